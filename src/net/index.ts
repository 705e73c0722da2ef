// Public surface of src/net: host networking for machines (names, IPAM, links, nftables, published
// ports, DNS forwarding) behind NetworkManager. The machine runtime uses only what is exported here.
export { NetworkManager, type MachineNetwork, type GuestNetParams, type LiveMachine, type ReconcileReport, type NetworkManagerOptions } from "./manager.js";
export { parseNetConfig, checkNetConfig, DEFAULT_NET_CONFIG, type NetConfig, type DnsConfig } from "./config.js";
export { parsePortSpec, parsePortSpecs, formatPort, portsClash, type PublishedPort, type PortProtocol, type PortPolicy } from "./ports.js";
export { tapName, macFor, isWalkTapName, TAP_PREFIX } from "./names.js";
export { tapKind, LinkDevices, type LinkKind, type LinkPlan, type WalkLink } from "./devices.js";
export { HostNet } from "./host.js";
export { renderTable, applyTable, removeTable, TABLE_FAMILY, TABLE_NAME, BLOCKED_IPV4, METADATA_ADDRESS, type NftState, type NftMachine } from "./nft.js";
export { checkPortsFree } from "./proxy.js";
export { claimNetworkNamespace, type NamespaceClaim } from "./owner.js";
export { networkHostProblems, type NetHostProblem } from "./doctor.js";
export type { Lease } from "./leases.js";
