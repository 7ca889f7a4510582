// Scenario: the Docker driver passes the driver conformance suite against the real dockerd
// (/var/run/docker.sock, image busybox:local). Outside changes are made with the docker CLI; the
// connection is dropped through a socket proxy, so the shared dockerd is never restarted.
import { randomBytes } from "node:crypto";
import { beforeAll } from "vitest";
import { describeDriverConformance } from "../../drivers/conformance/suite.ts";
import { driverSupport } from "../../src/api/driver-support.ts";
import { DockerDriver } from "../../drivers/docker/driver.ts";
import { dockerSocket, requireDocker } from "../harness/services.ts";
import { SocketProxy } from "../harness/socket-proxy.ts";
import { DockerCli } from "./docker-cli.ts";

const cli = new DockerCli(dockerSocket);
const driver = new DockerDriver();

beforeAll(async () => {
  await requireDocker();
});

describeDriverConformance({
  name: `docker (${dockerSocket})`,
  driver: () => driver,
  host: { endpoint: `unix://${dockerSocket}` },
  prefix: `ct-docker-${randomBytes(3).toString("hex")}`,
  // `sleep` under Docker's init stops at once on SIGTERM, like a well-behaved guest.
  spec: () => ({ cpus: 0.5, memoryMiB: 32, disks: [{ name: "root", image: "busybox:local" }], container: { command: ["sleep", "2147483647"] } }),
  hooks: {
    createUnmanagedVm: (name) => cli.runUnmanaged(name),
    setPowerOutside: (id, state) => cli.setPower(id, state),
    deleteOutside: (id) => cli.remove(id),
    async droppableSession(signal) {
      const proxy = await SocketProxy.start(dockerSocket);
      const session = await driver.connect({ endpoint: `unix://${proxy.path}` }, undefined, signal);
      return { session, drop: () => proxy.drop(), dispose: () => proxy.dispose() };
    },
    async cuttableSession(signal) {
      const proxy = await SocketProxy.start(dockerSocket);
      const session = await driver.connect({ endpoint: `unix://${proxy.path}` }, undefined, signal);
      return { session, cut: () => proxy.drop(), dispose: () => proxy.dispose() };
    },
    leftovers: { notApplicable: "a container's filesystem is its own writable layer, removed with it; the driver makes no Docker volumes" },
    cloudInit: { refused: driverSupport.docker.why.cloudInit! },
    devices: {
      diskBuses: [],
      whyNoDisks: driverSupport.docker.why.diskBus!,
      bootOrder: false,
      nicModels: [...driverSupport.docker.nicModels],
      network: { network: "bridge" },
      macPrefix: "02:42:ac",
      hostBus: (bus) => bus,
      hostModel: () => undefined, // docker inspect shows no NIC model: it is a veth
      async seen(identity) {
        // docker inspect of the container (stopped: its endpoints are not made yet, its configured MAC shows)
        return { disks: [], nics: [{ mac: await cli.docker("inspect", "-f", "{{.Config.MacAddress}}", identity.name) }] };
      },
    },
    cleanup: (prefix) => cli.removePrefixed(prefix),
  },
});
