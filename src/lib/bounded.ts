// Bounded reads. Everything walk reads from an untrusted peer (registry replies, image files, guest
// output) goes through a limit so a hostile peer cannot make it buffer without end.
import { WalkError } from "./errors.js";

/**
 * Reads an async byte stream into one Buffer, failing with size_exceeded as soon as more than
 * `limit` bytes arrive. `what` names the thing being read in the error message.
 */
export async function readBounded(stream: AsyncIterable<Uint8Array>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) {
      throw new WalkError("size_exceeded", `${what} is larger than the limit of ${limit} bytes`, { details: { limit } });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks, total);
}
