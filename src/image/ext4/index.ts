// Public surface of the ext4 writer: build a disk from a flattened tree, patch its reserved files.
export { Ext4Builder, type Ext4BuilderOptions, type Ext4Result, type FinishOptions } from "./builder.js";
export { type ReservedFileSpec, MAX_RESERVED_BLOCKS } from "./reserved.js";
export { PATCH_MAP_FORMAT, type PatchMap, type ReservedFileLocation } from "./patch-map.js";
export { patchReservedFile } from "./patch.js";
