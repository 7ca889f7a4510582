// The libvirt driver: `new LibvirtDriver().connect({ endpoint: "qemu:///system", libvirt: { virtType: "qemu" } }, undefined, signal)`.
export { LibvirtDriver, omnivisorImageStore } from "./driver.ts";
export { LibvirtSession } from "./session.ts";
export { defaultPoolName, defaultPoolPath, type ImageUpload, type UploadSource } from "./volumes.ts";
