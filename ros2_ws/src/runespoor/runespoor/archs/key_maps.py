r"""
Foreign super-resolution weights: state dicts of other code bases, renamed by a *key map*.

A key map is an ordered list of rules ``(pattern, replacement[, note])``.  Each key of the
foreign state dict is rewritten by the **first** rule whose regular expression matches it
(``re.search``; the matched part is replaced, as ``re.sub(..., count=1)`` does, so ``\1`` and
``\g<name>`` work); a key that no rule matches is kept as it is; a replacement ``None`` (YAML
``null``) drops the tensor.  ``{scale}`` in a pattern stands for the scale being loaded, which
selects one branch of a multi-scale network.

Named maps are in :data:`KEY_MAPS`; a user's own map is a YAML file holding a list of
``[pattern, replacement]`` pairs (an optional third item is a note shown when the rule drops
tensors), read bounded (:mod:`runespoor.safe_files`) and with ``yaml.safe_load``.

``carn_reference`` maps the authors' reference code (github.com/nmhkahn/CARN-pytorch,
``carn/model/carn.py``, ``carn_m.py``, ``ops.py``) to :mod:`runespoor.archs.carn`:

=====================================================  ==========================================
reference (CARN and CARN-M)                            Runespoor (``CARN`` / ``CARNM``)
=====================================================  ==========================================
``sub_mean.shifter.*``, ``add_mean.shifter.*``         dropped: fixed identity 1x1 convs adding
                                                       -/+ the DIV2K mean, which ``MeanShift``
                                                       adds without weights (checked on load)
``entry.*``, ``exit.*``                                the same names
``b{i}.b{j}.body.{k}.*`` (CARN: j = 1..3;              ``blocks.{i-1}.units.{j-1}.body.{k}.*``
CARN-M: only ``b1``, used three times)                 (CARN-M: units 1 and 2 are tied to unit 0)
``b{i}.c{j}.body.0.*``                                 ``blocks.{i-1}.fuse.{j-1}.0.*``
``c{j}.body.0.*``                                      ``fuse.{j-1}.0.*``
``upsample.up.body.{k}.*`` (single-scale file)         ``upsample.body.{k}.*``
``upsample.up{scale}.body.{k}.*`` (multi-scale file)   ``upsample.body.{k}.*``; the other scales'
                                                       ``upsample.up2/up3/up4`` are dropped
=====================================================  ==========================================

The layers are the same, with the same shapes, in the same order; the reference's upsampler
runs ``conv -> ReLU -> PixelShuffle`` where ours runs ``conv -> PixelShuffle -> ReLU``, the
same numbers (ReLU is element-wise, the shuffle a permutation).  The reference has no x6
upsampler (ours: a x2 then a x3 stage) and no global residual (load it with
``global_residual=False``, the default here).

>>> model, info = build_foreign_sr('carn_m_x4.pth', 'carn_m', 4, 'carn_reference')
"""

import os
import re

from ..torch_files import read_state_dict, WeightsError

#: Size limit of a key-map YAML file [bytes].
MAX_KEY_MAP_BYTES = 1024 * 1024
#: Most rules a key map may hold.
MAX_RULES = 10000
#: How many keys an error message lists per kind before "and N more".
_LIST = 8


class KeyMapError(ValueError):
    """A key map that is unknown or malformed; the message names it and what is wrong."""


class KeyMap:
    """
    An ordered list of renaming rules (see the module docstring).

    ``rules``: ``(pattern, replacement, note)`` triples (``replacement`` None drops; ``note``
    may be None).  ``check``: optional ``check(state, scale) -> list of notes`` run on the
    foreign state dict before renaming (named maps only); it raises :class:`WeightsError`
    for weights the Runespoor architecture cannot represent.  ``label`` names the map in
    messages (default ``'key map NAME'``; a file's: ``'key map file PATH'``).
    """

    def __init__(self, name, rules, description='', check=None, label=None):
        self.name = str(name)
        self.label = label or f'key map {self.name}'
        self.rules = tuple(_rule(r, i, self.label) for i, r in enumerate(rules))
        if not self.rules:
            raise KeyMapError(f'{self.label} has no rules')
        self.description = description
        self.check = check

    def compiled(self, scale=None):
        """Return ``[(compiled pattern, replacement, note, text)]`` with ``{scale}`` filled."""
        out = []
        for i, (pattern, repl, note) in enumerate(self.rules):
            if '{scale}' in pattern:
                if scale is None:
                    raise KeyMapError(f'{self.label}: rule {i + 1} uses {{scale}} but no '
                                      'scale was given')
                pattern = pattern.replace('{scale}', str(int(scale)))
            out.append((re.compile(pattern), repl, note, self.rules[i][0]))
        return out

    def to_list(self):
        """Return the rules as plain lists (the YAML file format)."""
        return [[p, r] if n is None else [p, r, n] for p, r, n in self.rules]

    def __repr__(self):
        return f'KeyMap({self.name!r}, {len(self.rules)} rules)'


def _rule(rule, index, label):
    """Validate one rule; return ``(pattern, replacement, note)``."""
    where = f'{label}: rule {index + 1}'
    if not isinstance(rule, (list, tuple)) or len(rule) not in (2, 3):
        raise KeyMapError(f'{where} must be a pair [pattern, replacement] (or a triple with a '
                          f'note), got {rule!r:.120}')
    pattern, repl = rule[0], rule[1]
    note = rule[2] if len(rule) == 3 else None
    if not isinstance(pattern, str) or not pattern:
        raise KeyMapError(f'{where}: the pattern must be a non-empty string, got {pattern!r:.80}')
    if repl is not None and not isinstance(repl, str):
        raise KeyMapError(f'{where}: the replacement must be a string, or null to drop the '
                          f'tensors, got {repl!r:.80}')
    if note is not None and not isinstance(note, str):
        raise KeyMapError(f'{where}: the note must be a string, got {note!r:.80}')
    try:
        compiled = re.compile(pattern.replace('{scale}', '2'))
    except re.error as exc:
        raise KeyMapError(f'{where}: pattern {pattern!r} is not a regular expression: '
                          f'{exc}') from None
    if repl is not None:
        groups = [int(a or b) for a, b in re.findall(r'\\(\d+)|\\g<(\d+)>', repl)]
        names = re.findall(r'\\g<([A-Za-z_]\w*)>', repl)
        bad = [str(g) for g in groups if g > compiled.groups] + \
            [n for n in names if n not in compiled.groupindex]
        if bad:
            raise KeyMapError(f'{where}: replacement {repl!r} refers to group(s) '
                              f'{", ".join(bad)} that pattern {pattern!r} does not have')
    return pattern, repl, note


# -- the reference CARN / CARN-M code (nmhkahn/CARN-pytorch) --------------------------------------

def _carn_reference_rules():
    shift = ('the fixed mean-shift 1x1 convs of the reference (identity weights, -/+ the DIV2K '
             'mean as bias): Runespoor adds the mean without weights (checked)')
    rules = [(r'^(sub|add)_mean\.shifter\.(weight|bias)$', None, shift)]
    for i in range(1, 4):
        for j in range(1, 4):
            rules.append((rf'^b{i}\.b{j}\.', f'blocks.{i - 1}.units.{j - 1}.', None))
        for j in range(1, 4):
            rules.append((rf'^b{i}\.c{j}\.body\.0\.', f'blocks.{i - 1}.fuse.{j - 1}.0.', None))
    for j in range(1, 4):
        rules.append((rf'^c{j}\.body\.0\.', f'fuse.{j - 1}.0.', None))
    rules += [
        (r'^upsample\.up{scale}\.', 'upsample.', None),
        (r'^upsample\.up\.', 'upsample.', None),
        (r'^upsample\.up\d+\.', None,
         "the reference's upsample branches of the other scales (a multi-scale file)"),
    ]
    return rules


def _check_carn_mean_shift(state, scale):
    """Check the reference's mean-shift convs against the fixed shift of ``carn.MeanShift``."""
    import torch

    from .carn import RGB_MEAN
    notes = []
    for name, sign in (('sub_mean', -1.0), ('add_mean', 1.0)):
        weight, bias = state.get(f'{name}.shifter.weight'), state.get(f'{name}.shifter.bias')
        if weight is None and bias is None:
            continue
        want_w = torch.eye(3).view(3, 3, 1, 1)
        want_b = sign * torch.tensor(RGB_MEAN)
        ok = torch.is_tensor(weight) and torch.is_tensor(bias) and \
            tuple(weight.shape) == (3, 3, 1, 1) and tuple(bias.shape) == (3,)
        err = float('inf')
        if ok:
            err = max(float((weight.float() - want_w).abs().max()),
                      float((bias.float() - want_b).abs().max()))
        if err > 1e-3:
            raise WeightsError(
                f'{name}.shifter is not the identity plus {sign:+.0f} x the DIV2K mean '
                f'{RGB_MEAN} that the Runespoor CARN adds (a fixed shift, not a weight): these '
                'weights cannot be represented exactly')
        if err > 0:
            notes.append(f'{name}.shifter differs from the exact DIV2K mean by {err:.2g} '
                         '(rounding in the file); the model uses the exact mean')
    return notes


#: Named key maps: name -> callable returning a :class:`KeyMap`.
KEY_MAPS = {
    'carn_reference': lambda: KeyMap(
        'carn_reference', _carn_reference_rules(),
        'CARN / CARN-M of the reference code of the authors (github.com/nmhkahn/CARN-pytorch: '
        'carn/model/carn.py, carn_m.py, ops.py), single- or multi-scale',
        check=_check_carn_mean_shift),
    # a plain state dict of a Runespoor SR network (``torch.save(model.state_dict())``): the
    # names are already ours; a DataParallel ``module.`` prefix goes
    'runespoor': lambda: KeyMap(
        'runespoor', [(r'^module\.', '', None)],
        "Runespoor's own CARN / CARN-M tensor names (a plain state dict of a Runespoor SR "
        'network)'),
}


def get_key_map(spec):
    """
    Return the :class:`KeyMap` ``spec``: a name of :data:`KEY_MAPS`, a YAML file, or a KeyMap.

    Raises :class:`KeyMapError` for an unknown name or a malformed file.
    """
    if isinstance(spec, KeyMap):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise KeyMapError(f'key map {spec!r}: give a name ({", ".join(KEY_MAPS)}) or a YAML '
                          'file of [pattern, replacement] pairs')
    spec = spec.strip()
    if spec in KEY_MAPS:
        return KEY_MAPS[spec]()
    if spec.endswith(('.yaml', '.yml')) or os.sep in spec or os.path.exists(spec):
        return load_key_map_file(spec)
    raise KeyMapError(f'unknown key map {spec!r}; choose one of {", ".join(KEY_MAPS)}, or give '
                      'a YAML file (a list of [pattern, replacement] pairs)')


def load_key_map_file(path):
    """Read a key map from the YAML file ``path`` (a list of ``[pattern, replacement]``)."""
    import yaml

    from ..safe_files import read_text_file, UnsafeFileError
    try:
        text = read_text_file(path, MAX_KEY_MAP_BYTES, 'key map file', empty_ok=False)
    except (UnsafeFileError, OSError) as exc:
        raise KeyMapError(str(exc)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KeyMapError(f'key map file {path} is not valid YAML: {exc}') from None
    if not isinstance(raw, list):
        raise KeyMapError(f'key map file {path} must hold a list of [pattern, replacement] '
                          f'pairs, got {type(raw).__name__}')
    if len(raw) > MAX_RULES:
        raise KeyMapError(f'key map file {path} has {len(raw)} rules, more than the '
                          f'{MAX_RULES} allowed')
    return KeyMap(path, raw, f'key map file {path}', label=f'key map file {path}')


# -- applying a key map -------------------------------------------------------------------------

def rename_state_dict(state, key_map, scale=None):
    """
    Apply ``key_map`` to ``state``; return ``(renamed, origin, dropped)``.

    ``renamed``: new key -> tensor; ``origin``: new key -> the file's key; ``dropped``: list of
    ``(file key, rule pattern, note)``.  Two keys renamed to one name raise
    :class:`WeightsError`.
    """
    key_map = get_key_map(key_map)
    rules = key_map.compiled(scale)
    renamed, origin, dropped = {}, {}, []
    for key, value in state.items():
        new = key
        for pattern, repl, note, text in rules:
            m = pattern.search(key)
            if m is None:
                continue
            if repl is None:
                new = None
                dropped.append((key, text, note))
            else:
                try:
                    new = key[:m.start()] + m.expand(repl) + key[m.end():]
                except (re.error, IndexError) as exc:
                    raise KeyMapError(f'{key_map.label}: rule {text!r} -> {repl!r} '
                                      f'fails on {key}: {exc}') from None
            break
        if new is None:
            continue
        if new in renamed:
            raise WeightsError(f'key map {key_map.name} renames both {origin[new]} and {key} '
                               f'to {new}')
        renamed[new], origin[new] = value, key
    return renamed, origin, dropped


def _shape(t):
    return '[' + ', '.join(str(int(s)) for s in t.shape) + ']'


def _listed(items):
    items = list(items)
    text = ', '.join(items[:_LIST])
    if len(items) > _LIST:
        text += f' and {len(items) - _LIST} more'
    return text


def _groups(keys, depth=2):
    """Summarise keys by their first ``depth`` components: ``'upsample.up2 (4)'``."""
    counts = {}
    for k in keys:
        stem = '.'.join(k.split('.')[:depth])
        counts[stem] = counts.get(stem, 0) + 1
    return [f'{stem} ({n})' for stem, n in counts.items()]


def load_foreign_sr(model, state_or_path, key_map, scale=None, what='SR weights file'):
    """
    Rename a foreign state dict by ``key_map`` and load it into the SR ``model`` strictly.

    ``state_or_path``: a state dict or the path of a weights file (:func:`read_state_dict`).
    ``scale``: fills ``{scale}`` in the map (default: ``model.scale``).  Tensors the model
    ties (CARN-M shares its residual unit within a block) are filled from the one the file
    holds, and must agree when it holds several.  Returns an info dict: ``key_map``,
    ``renamed``, ``dropped``, ``tied`` (counts) and ``notes`` (what was done, in words).

    Raises :class:`WeightsError` listing the file's tensors that have no place in the model
    (unmapped), the model's tensors that the file lacks (missing) and shape mismatches, with
    the key map's drops when that explains a gap; :class:`KeyMapError` for a bad key map.
    """
    import torch

    key_map = get_key_map(key_map)
    path = state_or_path if isinstance(state_or_path, (str, os.PathLike)) else None
    state = read_state_dict(path, what) if path is not None else dict(state_or_path)
    if scale is None:
        scale = getattr(model, 'scale', None)
    name = f'{what} {path}' if path is not None else what
    notes = []
    if key_map.check is not None:
        try:
            notes += key_map.check(state, scale)
        except WeightsError as exc:
            raise WeightsError(f'{name} (key map {key_map.name}): {exc}') from None
    renamed, origin, dropped = rename_state_dict(state, key_map, scale)

    own = model.state_dict(keep_vars=True)
    alias = {}  # key -> keys sharing the same tensor in the model
    by_id = {}
    for k, v in own.items():
        by_id.setdefault(id(v), []).append(k)
    for keys in by_id.values():
        for k in keys:
            alias[k] = keys
    final, source, tied, problems = {}, {}, 0, []
    unmapped = [k for k in renamed if k not in own]
    missing = []
    for k in own:
        given = [k] if k in renamed else [a for a in alias[k] if a in renamed]
        if not given:
            missing.append(k)
            continue
        final[k], source[k] = renamed[given[0]], origin[given[0]]
        tied += given[0] != k
    for keys in by_id.values():
        given = [a for a in keys if a in renamed]
        for other in given[1:]:
            first = renamed[given[0]]
            if first.shape == renamed[other].shape and not torch.equal(first, renamed[other]):
                problems.append(f'{origin[given[0]]} and {origin[other]} differ but the model '
                                f'shares one tensor for {given[0]} and {other}')
    mismatched = []
    for k, v in final.items():
        if tuple(v.shape) != tuple(own[k].shape):
            via = f' (from {source[k]})' if source[k] != k else ''
            mismatched.append(f'{k} is {_shape(v)} in the file{via} but {_shape(own[k])} in '
                              'the model')
    if unmapped or missing or mismatched or problems:
        arch = type(model).__name__
        parts = []
        if unmapped:
            parts.append(f'{len(unmapped)} tensor(s) of the file have no place in the model '
                         '(unmapped): ' + _listed(
                             f'{origin[k]} -> {k}' if origin[k] != k else k for k in unmapped))
        if missing:
            parts.append(f'{len(missing)} tensor(s) of the model are not in the file '
                         '(missing): ' + _listed(missing))
        if mismatched:
            parts.append('shape mismatch: ' + _listed(mismatched))
        parts += problems
        if dropped and missing:
            parts.append('the key map dropped ' + _listed(_groups(k for k, _, _ in dropped)))
        hint = (f'check the key map (runespoor convert sr --print-key-map {key_map.name}), '
                '--arch and --scale')
        raise WeightsError(f'{name} does not fit {arch} x{scale} with key map {key_map.name}: '
                           + '; '.join(parts) + f'; {hint}')

    final = {k: v.to(own[k].dtype) for k, v in final.items()}
    try:
        model.load_state_dict(final, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f'{name} does not fit {type(model).__name__}: '
                           f'{str(exc)[:500]}') from exc
    n_renamed = sum(1 for k in renamed if origin[k] != k)
    notes.insert(0, f'key map {key_map.name}: {len(state)} tensors in the file, {n_renamed} '
                    f'renamed, {len(renamed) - n_renamed} kept, {len(dropped)} dropped')
    for note in dict.fromkeys(n for _, _, n in dropped):
        keys = [k for k, _, n in dropped if n == note]
        notes.append(f'dropped {_listed(_groups(keys))}' + (f': {note}' if note else ''))
    if tied:
        notes.append(f'{tied} tensors of the model are shared with others (CARN-M reuses its '
                     'residual unit within a block) and were filled from them')
    return {'key_map': key_map.name, 'renamed': n_renamed, 'dropped': len(dropped),
            'tied': tied, 'notes': notes}


def infer_sr_kwargs(arch, state, key_map, scale):
    """
    Return the architecture kwargs (``channels``, ``blocks``, ``groups``) of renamed weights.

    Read from the shapes after renaming: ``entry.weight`` gives the width, the ``blocks.N``
    the block count, CARN-M's first grouped conv the groups.  What cannot be read is left to
    the architecture's default (the strict load then says what does not fit).
    """
    renamed, _, _ = rename_state_dict(state, key_map, scale)
    kwargs = {}
    entry = renamed.get('entry.weight')
    if entry is not None and entry.dim() == 4:
        kwargs['channels'] = int(entry.shape[0])
    blocks = {int(m.group(1)) for m in (re.match(r'blocks\.(\d+)\.', k) for k in renamed) if m}
    if blocks:
        kwargs['blocks'] = max(blocks) + 1
    if arch == 'carn_m':
        conv = renamed.get('blocks.0.units.0.body.0.weight')
        if conv is not None and conv.dim() == 4 and 'channels' in kwargs and conv.shape[1] and \
                kwargs['channels'] % int(conv.shape[1]) == 0:
            kwargs['groups'] = kwargs['channels'] // int(conv.shape[1])
    return kwargs


def build_foreign_sr(path, arch, scale, key_map, global_residual=False,
                     what='SR weights file'):
    """
    Build the Runespoor SR network ``arch`` x``scale`` for foreign weights and load them.

    The width, block count and groups are read from the weights (:func:`infer_sr_kwargs`).
    Returns ``(model, info)``: ``info`` as :func:`load_foreign_sr` plus ``arch_kwargs``
    (what a checkpoint records to rebuild the model).  Raises :class:`WeightsError` or
    :class:`KeyMapError`; an unknown ``arch`` or ``scale`` is a ``ValueError``.
    """
    from . import build_sr, SR_ARCHS
    if arch not in SR_ARCHS:
        raise ValueError(f'unknown SR arch {arch!r}; choose one of {", ".join(SR_ARCHS)}')
    key_map = get_key_map(key_map)
    state = read_state_dict(path, what)
    arch_kwargs = dict(infer_sr_kwargs(arch, state, key_map, scale),
                       global_residual=bool(global_residual))
    model = build_sr(arch, scale=int(scale), **arch_kwargs)
    info = load_foreign_sr(model, state, key_map, scale, what=f'{what} {path}')
    info['arch_kwargs'] = arch_kwargs
    return model.eval(), info
