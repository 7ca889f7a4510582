// The RoleBinding that lets the status watchers' identity read Host credentials Secrets in one
// namespace, and only there (src/local/operator-rbac.yaml, ADR 0028).
export function watcherCredentialsBinding(namespace: string): object {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "omnivisor-status-watcher-credentials", namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "omnivisor-host-credentials" },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "omnivisor-status-watcher" }],
  };
}
