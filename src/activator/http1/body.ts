// Reading a message body as it streams in, by its framing: a known length, chunked (decoded, so
// walkd forwards the data and re-frames it itself: chunk extensions and trailers never reach the
// other side), or until the connection closes. Strict and bounded: a chunk size that is not hex,
// too long a size, extension or trailer section, or a missing CRLF is an error, never a guess.
// Pure: bytes in, body slices out; no sockets.
import type { Framing } from "./head.js";

/** Longest chunk-size line (size, extensions, optional whitespace) accepted. */
const MAX_CHUNK_LINE = 4096;
/** Largest trailer section accepted (it is read and dropped). */
const MAX_TRAILERS = 16 * 1024;
/** 13 hex digits: sizes up to 2^52, beyond any body walkd could carry. */
const MAX_SIZE_DIGITS = 13;

export class BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BodyError";
  }
}

const CR = 13;
const LF = 10;
const SEMI = 59;
const SP = 32;
const TAB = 9;

/** Chunked decoder states. */
const enum S {
  Size,
  SizeWs,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  FinalLf,
  Done,
}

function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}

/** Visible ASCII, SP, HTAB and obs-text: what chunk extensions and trailer lines may hold. */
function isFieldByte(b: number): boolean {
  return b === TAB || (b >= 0x20 && b !== 0x7f);
}

export class BodyReader {
  private state = S.Size;
  /** Bytes of body left: of the whole body (length) or of the current chunk (chunked). */
  private remaining: number;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private finished: boolean;

  constructor(readonly framing: Framing) {
    this.remaining = framing.kind === "length" ? framing.length : 0;
    this.finished = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  /** The whole body has been read (a "close" body finishes only at end()). */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Consumes body bytes from the start of `chunk`, pushing the body data it holds onto `out`
   * (subarrays of `chunk`, no copies). Returns how many bytes of `chunk` belonged to the body: the
   * rest is what follows the message. Throws BodyError for malformed chunked framing.
   */
  read(chunk: Buffer, out: Buffer[]): number {
    if (this.finished) return 0;
    switch (this.framing.kind) {
      case "close":
        if (chunk.length > 0) out.push(chunk);
        return chunk.length;
      case "length": {
        const n = Math.min(chunk.length, this.remaining);
        if (n > 0) out.push(n === chunk.length ? chunk : chunk.subarray(0, n));
        this.remaining -= n;
        if (this.remaining === 0) this.finished = true;
        return n;
      }
      case "chunked":
        return this.readChunked(chunk, out);
      default:
        return 0;
    }
  }

  /**
   * The sender closed its side. A "close" body ends here; any other body that is not complete is
   * truncated (throws BodyError).
   */
  end(): void {
    if (this.finished) return;
    if (this.framing.kind === "close") {
      this.finished = true;
      return;
    }
    throw new BodyError("the connection closed before the body ended");
  }

  private readChunked(buf: Buffer, out: Buffer[]): number {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      const b = buf[i]!;
      switch (this.state) {
        case S.Size: {
          const h = hexValue(b);
          if (h >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw new BodyError("chunk size too large");
            this.remaining = this.remaining * 16 + h;
          } else if (this.digits === 0) {
            throw new BodyError("chunk size is not hexadecimal");
          } else if (b === CR) {
            this.state = S.SizeLf;
          } else if (b === SEMI) {
            this.state = S.Ext;
          } else if (b === SP || b === TAB) {
            this.state = S.SizeWs;
          } else {
            throw new BodyError("chunk size is not hexadecimal");
          }
          this.lineBytes++;
          i++;
          break;
        }
        case S.SizeWs:
          // Only whitespace, then an extension, may follow a size (RFC 9112 §7.1.1 BWS).
          if (b === SEMI) this.state = S.Ext;
          else if (b === CR) this.state = S.SizeLf;
          else if (b !== SP && b !== TAB) throw new BodyError("garbage after a chunk size");
          if (++this.lineBytes > MAX_CHUNK_LINE) throw new BodyError("chunk size line too long");
          i++;
          break;
        case S.Ext:
          if (b === CR) this.state = S.SizeLf;
          else if (!isFieldByte(b)) throw new BodyError("a control character in a chunk extension");
          if (++this.lineBytes > MAX_CHUNK_LINE) throw new BodyError("chunk extension too long");
          i++;
          break;
        case S.SizeLf:
          if (b !== LF) throw new BodyError("a chunk size line must end with CRLF");
          i++;
          this.digits = 0;
          this.lineBytes = 0;
          this.state = this.remaining === 0 ? S.TrailerStart : S.Data;
          break;
        case S.Data: {
          const take = Math.min(n - i, this.remaining);
          out.push(buf.subarray(i, i + take));
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (b !== CR) throw new BodyError("chunk data must end with CRLF");
          this.state = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (b !== LF) throw new BodyError("chunk data must end with CRLF");
          this.state = S.Size;
          i++;
          break;
        case S.TrailerStart:
          // An empty line ends the message; anything else is a trailer field, read and dropped.
          if (b === CR) this.state = S.FinalLf;
          else this.state = S.Trailer;
          if (b !== CR && !isFieldByte(b)) throw new BodyError("a control character in a trailer");
          this.countTrailer();
          i++;
          break;
        case S.Trailer:
          if (b === CR) this.state = S.TrailerLf;
          else if (!isFieldByte(b)) throw new BodyError("a control character in a trailer");
          this.countTrailer();
          i++;
          break;
        case S.TrailerLf:
          if (b !== LF) throw new BodyError("a trailer line must end with CRLF");
          this.state = S.TrailerStart;
          this.countTrailer();
          i++;
          break;
        case S.FinalLf:
          if (b !== LF) throw new BodyError("the chunked body must end with CRLF");
          this.state = S.Done;
          this.finished = true;
          return i + 1;
        default:
          return i;
      }
    }
    return i;
  }

  private countTrailer(): void {
    if (++this.trailerBytes > MAX_TRAILERS) throw new BodyError("trailer section too large");
  }
}
