import { describe, expect, it } from "vitest";
import { haRestart } from "./ha-restart.ts";
import type { HAPolicyObject, Failover } from "../../src/fleet/failovers.ts";
import type { HostObject, VmObject } from "../../src/fleet/kinds.ts";

const policy = (failover: Failover | undefined, fencingRequired = true): HAPolicyObject =>
  ({ metadata: { name: "ha" }, spec: { pools: ["p"], fencingRequired, defaultRestartPriority: "Medium" }, status: failover ? { failoversInProgress: [failover] } : {} }) as unknown as HAPolicyObject;
const fenced: Failover = { host: "a", phase: "Restarting", startedAt: "t", fencedAt: "t" };
const vm = (more: { annotations?: Record<string, string>; priority?: string; host?: string; disks?: boolean } = {}): VmObject =>
  ({
    metadata: { name: "v", namespace: "n", annotations: more.annotations ?? {} },
    spec: { ...(more.priority ? { haRestartPriority: more.priority } : {}), ...(more.disks ? { disks: [{ name: "root", image: "tiny" }] } : {}) },
    status: { host: more.host ?? "a" },
  }) as unknown as VmObject;
const host = (shared?: string): HostObject => ({ metadata: { name: "a", annotations: shared ? { "libvirt.omnivisor.io/shared-storage": shared } : {} }, spec: { driver: "libvirt" } }) as unknown as HostObject;
const asked = { annotations: { "omnivisor.io/ha-restart-from": "a" } };

describe("a VM of a failed host", () => {
  const cases: { reason: string; vm: VmObject; policies: HAPolicyObject[]; host?: HostObject; want: string | undefined }[] = [
    { reason: "no failover of its host: nothing to do", vm: vm(asked), policies: [policy(undefined)], want: undefined },
    { reason: "only suspected: nothing yet", vm: vm(asked), policies: [policy({ host: "a", phase: "Suspect", startedAt: "t" })], want: undefined },
    { reason: "asked, but the fence is not confirmed: held, whatever the annotation says", vm: vm(asked), policies: [policy({ host: "a", phase: "Blocked", startedAt: "t", message: "BMC unreachable" })], want: "hold:HostFailed" },
    { reason: "fenced and asked: restarted", vm: vm(asked), policies: [policy(fenced)], want: "restart" },
    { reason: "fenced, not asked yet (a later priority group): waits", vm: vm(), policies: [policy(fenced)], want: "hold:RestartWaiting" },
    { reason: "priority Disabled: stays, with a condition", vm: vm({ ...asked, priority: "Disabled" }), policies: [policy(fenced)], want: "hold:RestartDisabled" },
    { reason: "disks on the host's own storage: not restartable", vm: vm({ ...asked, disks: true }), policies: [policy(fenced)], host: host(), want: "hold:NotRestartable" },
    { reason: "disks on shared storage: restarted", vm: vm({ ...asked, disks: true }), policies: [policy(fenced)], host: host("nfs"), want: "restart" },
    { reason: "fencing not required: restarted without fencedAt once Restarting", vm: vm(asked), policies: [policy({ host: "a", phase: "Restarting", startedAt: "t" }, false)], want: "restart" },
    { reason: "already elsewhere: the request names the old host, nothing to do", vm: vm({ ...asked, host: "b" }), policies: [policy(fenced)], want: undefined },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const got = haRestart(c.vm, c.vm.status, c.policies, () => c.host);
      expect(got ? (got.kind === "hold" ? `hold:${got.reason}` : got.kind) : undefined).toBe(c.want);
    });
  }
});
