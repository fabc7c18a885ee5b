from setuptools import find_packages, setup

package_name = 'runespoor'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Runespoor maintainers',
    maintainer_email='runespoor@example.org',
    description='Runespoor algorithms and offline tools (no ROS dependency).',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'runespoor = runespoor.cli:main',
        ],
    },
)
