"""sos report plugin: the state of the MetalK8s cluster and its configuration on this node."""
from sos.plugins import Plugin, RedHatPlugin

KUBECONFIG = '/etc/kubernetes/admin.conf'
RESOURCES = (
    'nodes', 'namespaces', 'pods', 'services', 'endpoints', 'deployments',
    'daemonsets', 'statefulsets', 'events', 'persistentvolumes',
    'persistentvolumeclaims', 'volumes.storage.metalk8s.scality.com',
)


class MetalK8s(Plugin, RedHatPlugin):
    """MetalK8s cluster state, configuration and logs"""

    plugin_name = 'metalk8s'
    profiles = ('container',)
    packages = ('kubelet',)

    def setup(self):
        self.add_copy_spec([
            '/etc/metalk8s',
            '/etc/kubernetes/manifests',
            '/etc/salt/minion.d',
            '/var/log/metalk8s',
        ])
        # Private keys stay on the node.
        self.add_forbidden_path('/etc/kubernetes/pki')
        self.add_journal(units='kubelet')
        if not self.path_exists(KUBECONFIG):
            return
        kubectl = 'kubectl --kubeconfig=%s' % KUBECONFIG
        for resource in RESOURCES:
            self.add_cmd_output(
                '%s get %s --all-namespaces --output wide' % (kubectl, resource))
        self.add_cmd_output('%s describe nodes' % kubectl)
        self.add_cmd_output('%s version' % kubectl)
