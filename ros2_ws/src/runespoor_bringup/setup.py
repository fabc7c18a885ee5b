from glob import glob

from setuptools import find_packages, setup

package_name = 'runespoor_bringup'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/rviz', glob('rviz/*.rviz')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Runespoor maintainers',
    maintainer_email='runespoor@example.org',
    description='Runespoor bringup: system/cloud/bag launch files, RViz config, run_graph, '
                'the CAC experiment.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'run_graph = runespoor_bringup.graph:main',
            'experiment_cac = runespoor_bringup.experiment_cac:main',
            'experiment_monitor = runespoor_bringup.experiment_monitor:main',
        ],
    },
)
