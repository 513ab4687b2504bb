// The command lines the ISO root's shell scripts run on a fake node (test/node-fixture.ts), as
// upstream 2.4.1's scripts run them: what root-scripts.test.ts and script-options.test.ts expect.
export const SALTENV = 'saltenv=metalk8s-2.4.1';
export const PS =
  'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=salt-master --state Running';
export const EXEC = 'crictl exec -i salt-master-0123';
export const MASTER = `${EXEC} salt-run --state-output=mixed`;
export const LOCAL_PILLAR =
  "pillar={'repo': {'local_mode': True}, 'metalk8s': {'endpoints': {'repositories': {'ip': '172.21.254.2', 'ports': {'http': 8080}}, 'salt-master': {'ip': '172.21.254.2'}}}}";
/** What versions.json lists in the fake nodes' ISOs: one package pinned, one free (a null version). */
export const VERSIONS_JSON = `${JSON.stringify({
  packages: {
    centos: { 'salt-minion': { version: '2018.3.4-1' }, genisoimage: { version: null } },
    redhat: { 'salt-minion': { version: '2018.3.4-1' }, genisoimage: { version: null } },
    ubuntu: {},
  },
  metalk8s: { version: '2.4.1' },
})}\n`;
/** bootstrap.sh's mandatory-packages check of VERSIONS_JSON, as upstream's: a test-mode yum install. */
export const PACKAGES_CHECK =
  'yum install --assumeyes --setopt tsflags=test --setopt skip_missing_names_on_install=False salt-minion-2018.3.4-1 genisoimage';
/**
 * What bootstrap.sh and restore.sh both do first: the ISO's repositories, the minion, local mode;
 * bootstrap.sh checks the packages once the repositories are there.
 */
export const SETUP_CALLS = (scripts: string, checked: string[] = []) => [
  'yum clean all',
  ...checked,
  'systemctl disable --now salt-minion.service',
  'yum install --assumeyes salt-minion genisoimage',
  `salt-call --file-root=${scripts}/salt --local --retcode-passthrough saltutil.sync_all saltenv=base`,
  `salt-call --file-root=${scripts}/salt --local --retcode-passthrough state.sls metalk8s.salt.minion.local pillar={'metalk8s': {'archives': '${scripts}'}} saltenv=base`,
];
export const BACKUP_CALLS = [
  'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=etcd --state Running',
  'crictl exec -i etcd-0123 env ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cert /etc/kubernetes/pki/etcd/salt-master-etcd-client.crt ' +
    '--key /etc/kubernetes/pki/etcd/salt-master-etcd-client.key --cacert /etc/kubernetes/pki/etcd/ca.crt snapshot save /var/lib/etcd/metalk8s-backup.db',
];
export const BOOTSTRAP_CALLS = (scripts: string) => [
  ...SETUP_CALLS(scripts, [PACKAGES_CHECK]),
  `salt-call --local --state-output=mixed --retcode-passthrough state.sls metalk8s.node.grains ${SALTENV} pillarenv=metalk8s-2.4.1`,
  'salt-call --local grains.get metalk8s:control_plane_ip --out txt',
  'salt-call --local --state-output=mixed --retcode-passthrough state.sls ["metalk8s.kubernetes.ca.kubernetes.installed", "metalk8s.roles.bootstrap", "metalk8s.roles.minion"] ' +
    `${SALTENV} pillarenv=metalk8s-2.4.1 ${LOCAL_PILLAR}`,
  ...['utils', 'pillar', 'runners', 'modules'].flatMap((kind) => [PS, `${MASTER} saltutil.sync_${kind} ${SALTENV}`]),
  'salt-call --local grains.get id --out txt',
  PS,
  `${MASTER} state.orchestrate metalk8s.orchestrate.bootstrap.accept-minion ${SALTENV} pillar={'bootstrap_id': 'bootstrap'}`,
  `salt-call --state-output=mixed saltutil.sync_all refresh=True ${SALTENV}`,
  PS,
  `${MASTER} state.orchestrate metalk8s.orchestrate.bootstrap ${SALTENV} pillar={'bootstrap_id': 'bootstrap'}`,
  'salt-call mine.update',
  ...BACKUP_CALLS,
];
/** Upstream 2.4.1's restore.sh, command line for command line; `others` the other nodes' minion ids. */
export const RESTORE_CALLS = (scripts: string, others: string[]) => [
  ...SETUP_CALLS(scripts),
  'salt-call --local grains.get id --out txt',
  "salt-call --local --retcode-passthrough state.single file.serialize /etc/metalk8s/bootstrap.yaml formatter=yaml merge_if_exists=True dataset={'ca': {'minion': 'bootstrap'}}",
  `salt-call --local --state-output=mixed --retcode-passthrough state.sls metalk8s.node.grains ${SALTENV}`,
  'salt-call --local grains.get metalk8s:control_plane_ip --out txt',
  `salt-call --local --state-output=mixed --retcode-passthrough state.sls ["metalk8s.roles.bootstrap", "metalk8s.roles.minion"] ${SALTENV} ${LOCAL_PILLAR}`,
  PS,
  `${EXEC} salt-run saltutil.sync_all ${SALTENV}`,
  'salt-call --local grains.get id --out txt',
  PS,
  `${MASTER} state.orchestrate metalk8s.orchestrate.bootstrap.accept-minion ${SALTENV} pillar={'bootstrap_id': 'bootstrap'}`,
  `salt-call --retcode-passthrough saltutil.sync_all refresh=True ${SALTENV}`,
  `salt-call --retcode-passthrough --state-output=mixed state.sls metalk8s.kubernetes.kubelet ${SALTENV} ${LOCAL_PILLAR}`,
  `salt-call --retcode-passthrough --state-output=mixed state.sls metalk8s.kubernetes.apiserver.kubeconfig ${SALTENV} ${LOCAL_PILLAR}`,
  ...[
    ['kubernetes_root_ca_b64', 'ca.crt'],
    ['kubernetes_etcd_ca_b64', 'etcd/ca.crt'],
    ['kubernetes_front_proxy_ca_b64', 'front-proxy-ca.crt'],
    ['kubernetes_sa_pub_key_b64', 'sa.pub'],
  ].map(
    ([name, file]) =>
      `salt-call --retcode-passthrough mine.send ${name} mine_function=hashutil.base64_encodefile /etc/kubernetes/pki/${file}`,
  ),
  PS,
  `${MASTER} state.orchestrate metalk8s.kubernetes.mark-control-plane.deployed ${SALTENV}`,
  'salt-call --retcode-passthrough mine.update',
  "salt-call slsutil.renderer string={{ pillar.metalk8s.nodes.keys() | difference(salt.metalk8s.minions_by_role('bootstrap')) | join(',') }} --out txt",
  PS,
  `${EXEC} salt-run saltutil.sync_roster ${SALTENV}`,
  ...(others.length === 0
    ? []
    : [
        PS,
        `${EXEC} salt-ssh --roster kubernetes -L ${others.join(',')} file.remove /etc/salt/pki/minion/minion_master.pub`,
        PS,
        `${EXEC} salt-ssh --roster kubernetes -L ${others.join(',')} --state-output=mixed state.sls ["metalk8s.roles.minion", "metalk8s.container-engine"] ${SALTENV}`,
      ]),
  PS,
  `${EXEC} salt-key -A -y`,
  'salt-call --local grains.get id --out txt',
  `salt-call --retcode-passthrough --state-output=mixed state.sls metalk8s.salt.master.certs.etcd-client ${SALTENV}`,
  PS,
  `${MASTER} state.orchestrate metalk8s.orchestrate.deploy_node ${SALTENV} pillar={'orchestrate': {'node_name': 'bootstrap'}}`,
  ...BACKUP_CALLS,
];
