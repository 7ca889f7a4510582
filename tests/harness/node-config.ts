// Configuration files of the one-node test cluster's components: containerd (its own root, state
// and socket), the CNI network (bridge cni0, host-local addresses), the kubelet, kube-proxy and
// kube-scheduler. Every setting here mattered on this machine (../shared/TESTGROUND.md).
import { stringify } from "yaml";
import { BRIDGE, NODE_RUN, NODE_STATE, POD_CIDR } from "./node-host.ts";

export const PAUSE_IMAGE = "omnivisor.local/pause:3.10.2";
/** Debian's busybox-static as an image (scripts/node-images.sh): pods in tests run this. */
export const TEST_IMAGE = "omnivisor.local/busybox:1.35";
/** The test image plus kubectl (not imported at start: nodeImages().kubectl, then importImage). */
export const KUBECTL_IMAGE = "omnivisor.local/kubectl:1.36.3";

export const paths = {
  containerdSocket: `${NODE_RUN}/containerd.sock`,
  containerdRoot: `${NODE_STATE}/containerd`,
  containerdState: `${NODE_RUN}/containerd`,
  cniConfDir: `${NODE_STATE}/cni/net.d`,
  cniData: `${NODE_STATE}/cni/ipam`,
  kubeletRoot: `${NODE_STATE}/kubelet`,
  podLogs: `${NODE_STATE}/pod-logs`,
  certs: `${NODE_STATE}/certs`,
  logs: `${NODE_STATE}/logs`,
  controlPlane: `${NODE_STATE}/control-plane`,
};

export function containerdToml(): string {
  // containerd 1.6 config version 2. restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE
  // (without it every sandbox fails in runc). Pod network namespaces live under the state dir,
  // not /run/netns. No registry is configured: images are imported, never pulled.
  return `version = 2
root = "${paths.containerdRoot}"
state = "${paths.containerdState}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${paths.containerdSocket}"

[ttrpc]
  address = "${paths.containerdSocket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${NODE_STATE}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${paths.cniConfDir}"
    max_conf_num = 1
`;
}

export function cniConflist(): string {
  // ipMasq false: pod traffic is never masqueraded onto the host's interfaces (it is dropped).
  return JSON.stringify(
    {
      cniVersion: "0.4.0",
      name: "omnivisor-test-node",
      plugins: [
        {
          type: "bridge",
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: paths.cniData },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export function kubeletConfig(o: { caCert: string; servingCert: string; servingKey: string }): string {
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: "127.0.0.1",
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    cgroupDriver: "cgroupfs",
    failCgroupV1: false, // this machine has cgroup v1: a warning instead of a refusal
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    imageServiceEndpoint: `unix://${paths.containerdSocket}`,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caCert } },
    authorization: { mode: "Webhook" },
    tlsCertFile: o.servingCert,
    tlsPrivateKeyFile: o.servingKey,
    // Nothing can be pulled again, so images are never collected; eviction only on a full disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "1%", "nodefs.available": "1%", "imagefs.available": "1%" },
    podLogsDir: paths.podLogs,
    makeIPTablesUtilChains: false,
    clusterDomain: "cluster.local",
    registerNode: true,
    serializeImagePulls: false,
    maxPods: 50,
    nodeStatusUpdateFrequency: "2s",
    syncFrequency: "10s",
    fileCheckFrequency: "10s",
  });
}

export function kubeProxyConfig(o: { kubeconfig: string; nodeName: string }): string {
  return stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig: o.kubeconfig },
    hostnameOverride: o.nodeName,
    mode: "iptables",
    clusterCIDR: POD_CIDR,
    bindAddress: "127.0.0.1",
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    // NodePorts only on loopback, and not even there (localhostNodePorts false): nothing of the
    // cluster is reachable from the host's interfaces.
    nodePortAddresses: ["127.0.0.1/32"],
    iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: "30s", minSyncPeriod: "1s" },
    // Zero: leave the host's conntrack sysctls alone.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s", udpTimeout: "0s", udpStreamTimeout: "0s" },
  });
}

export function schedulerConfig(o: { kubeconfig: string }): string {
  return stringify({
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    clientConnection: { kubeconfig: o.kubeconfig },
    leaderElection: { leaderElect: false },
  });
}
