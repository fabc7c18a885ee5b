from glob import glob

from setuptools import find_packages, setup

package_name = 'runespoor_edge'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        # the robot's launch files (edge, source, robot); the rest: runespoor_bringup
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Runespoor maintainers',
    maintainer_email='runespoor@example.org',
    description='Runespoor edge node: knobs, EncodedFrame publisher, rate-policy follower.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'edge_node = runespoor_edge.edge_node:main',
            'source_node = runespoor_edge.source_node:main',
        ],
    },
)
