"""sos report plugin: containerd's configuration and its view of pods, containers and images."""
from sos.plugins import Plugin, RedHatPlugin


class Containerd(Plugin, RedHatPlugin):
    """containerd container runtime"""

    plugin_name = 'containerd'
    profiles = ('container',)
    packages = ('containerd',)

    def setup(self):
        self.add_copy_spec('/etc/containerd')
        self.add_journal(units='containerd')
        for arguments in ('info', 'pods', 'ps --all', 'images', 'stats --all'):
            self.add_cmd_output('crictl %s' % arguments)
