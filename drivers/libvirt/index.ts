// The libvirt driver: `new LibvirtDriver().connect({ endpoint: "qemu:///system", libvirt: { virtType: "qemu" } }, undefined, signal)`.
export { LibvirtDriver, defaultDiskDir, defaultImageStore, omnivisorImageStore } from "./driver.ts";
export { LibvirtSession } from "./session.ts";
