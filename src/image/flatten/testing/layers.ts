// Test support: layers from the test fixtures as LayerInputs, and a one-call flatten into a
// MemorySink. Never used by production code.
import { buildLayer, type BuiltLayer, type LayerSpec, type TarEntry } from "../../../../test/fixtures/images.js";
import { flattenLayers, type FlattenOptions, type LayerInput } from "../index.js";
import type { Node } from "../../tree.js";
import { MemorySink } from "./memory-sink.js";

/** Yields `data` in chunks of `chunk` bytes, so readers are tested across chunk boundaries. */
export async function* chunked(data: Buffer, chunk = 65536): AsyncGenerator<Uint8Array, void, undefined> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

export interface CountingLayer extends LayerInput {
  opened: number;
}

export function layerInput(l: BuiltLayer, opts: { chunk?: number; diffId?: string; data?: Buffer } = {}): CountingLayer {
  const input: CountingLayer = {
    digest: l.digest,
    diffId: opts.diffId ?? l.diffId,
    mediaType: l.mediaType,
    opened: 0,
    open: async () => {
      input.opened++;
      return chunked(opts.data ?? l.data, opts.chunk);
    },
  };
  return input;
}

/** Builds uncompressed layers from entry lists (or specs) and flattens them. */
export async function flat(
  layers: ReadonlyArray<readonly TarEntry[] | LayerSpec>,
  opts: FlattenOptions & { chunk?: number } = {},
): Promise<{ root: Node; sink: MemorySink }> {
  const sink = new MemorySink();
  const inputs: LayerInput[] = [];
  for (const l of layers) {
    const spec: LayerSpec = Array.isArray(l) ? { entries: l as readonly TarEntry[], compression: "none" } : (l as LayerSpec);
    inputs.push(layerInput(await buildLayer(spec), opts.chunk !== undefined ? { chunk: opts.chunk } : {}));
  }
  const root = await flattenLayers(inputs, sink, opts);
  return { root, sink };
}
