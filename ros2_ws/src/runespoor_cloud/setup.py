from glob import glob

from setuptools import find_packages, setup

package_name = 'runespoor_cloud'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        # launch files and the RViz config: runespoor_bringup
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Runespoor maintainers',
    maintainer_email='runespoor@example.org',
    description='Runespoor cloud node: reconstruction, analytics, tail flags, rate policy.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'cloud_node = runespoor_cloud.cloud_node:main',
            'fleet_node = runespoor_cloud.fleet_node:main',
        ],
    },
)
