import { describe, expect, it } from "vitest";
import { envelope, moRef } from "./encode.ts";
import { faultFromSoap } from "./faults.ts";
import { child, childrenNamed, parseXml, textAt, xsiType, XmlSyntaxError } from "./xml.ts";

describe("parseXml", () => {
  it("reads a vim25 answer: prefixes dropped, attributes kept, entities decoded", () => {
    const doc = parseXml(
      `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="x"><soapenv:Body><R xmlns="urn:vim25"><returnval>` +
        `<obj type="VirtualMachine">vm-1</obj><name>a &amp; b &#x41;&#66;</name><empty/></returnval></R></soapenv:Body></soapenv:Envelope>`,
    );
    const rv = child(child(child(doc, "Body"), "R"), "returnval");
    expect(child(rv, "obj")?.attrs["type"]).toBe("VirtualMachine");
    expect(textAt(rv, "name")).toBe("a & b AB");
    expect(child(rv, "empty")?.text).toBe("");
  });

  it("finds xsi:type under whatever prefix the server chose (vcsim writes XMLSchema-instance:type)", () => {
    const el = parseXml(`<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfOptionValue"><OptionValue/><OptionValue/></val>`);
    expect(xsiType(el)).toBe("ArrayOfOptionValue");
    expect(childrenNamed(el, "OptionValue")).toHaveLength(2);
  });

  it("rejects DTDs and unbalanced documents", () => {
    expect(() => parseXml(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`)).toThrow(XmlSyntaxError);
    expect(() => parseXml(`<a><b></a>`)).toThrow(XmlSyntaxError);
  });
});

describe("envelope", () => {
  it("writes _this, fields in order, typed objects and escaped text", () => {
    const xml = envelope("CreateVM_Task", moRef("Folder", "ha-folder-vm"), {
      config: { name: "a<b", numCPUs: 2, extraConfig: [{ $type: "OptionValue", key: "k", value: { $type: "xsd:string", $text: "v" } }] },
      pool: moRef("ResourcePool", "ha-root-pool"),
    });
    expect(xml).toContain(
      `<CreateVM_Task xmlns="urn:vim25"><_this type="Folder">ha-folder-vm</_this><config><name>a&lt;b</name><numCPUs>2</numCPUs>` +
        `<extraConfig xsi:type="OptionValue"><key>k</key><value xsi:type="xsd:string">v</value></extraConfig></config>` +
        `<pool type="ResourcePool">ha-root-pool</pool></CreateVM_Task>`,
    );
  });
});

describe("faultFromSoap", () => {
  it("names the fault by its xsi:type", () => {
    const fault = parseXml(
      `<soapenv:Fault xmlns:soapenv="s" xmlns:xsi="i"><faultcode>ServerFaultCode</faultcode><faultstring>not found</faultstring>` +
        `<detail><ManagedObjectNotFoundFault xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">x</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>`,
    );
    const f = faultFromSoap("PowerOnVM_Task", fault);
    expect(f.fault).toBe("ManagedObjectNotFound");
    expect(f.method).toBe("PowerOnVM_Task");
  });
});
