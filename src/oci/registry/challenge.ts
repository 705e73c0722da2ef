// Parser for WWW-Authenticate headers (RFC 9110 section 11.6.1): one or more challenges, each a
// scheme followed by comma-separated auth-params whose values may be quoted strings with commas
// and backslash escapes, e.g. `Bearer realm="https://auth.example/token",service="reg",scope="a,b"`.
// Pure; decides nothing about what to do with a challenge.

export interface Challenge {
  /** Lowercase scheme: "bearer", "basic", ... */
  scheme: string;
  /** Parameters with lowercase names. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[A-Za-z0-9!#$%&'*+.^_`|~-]/;

export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let pos = 0;
  const skip = (chars: RegExp): void => {
    while (pos < header.length && chars.test(header.charAt(pos))) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < header.length && TOKEN_CHAR.test(header.charAt(pos))) pos++;
    return header.slice(start, pos);
  };
  const quoted = (): string => {
    let value = "";
    pos++; // opening quote
    while (pos < header.length && header.charAt(pos) !== '"') {
      if (header.charAt(pos) === "\\" && pos + 1 < header.length) pos++;
      value += header.charAt(pos);
      pos++;
    }
    pos++; // closing quote (or end of input)
    return value;
  };
  while (pos < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (scheme === "") {
      pos++; // not a token character: skip it rather than loop forever
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const start = pos;
      const name = token();
      skip(/\s/);
      if (name === "" || header.charAt(pos) !== "=") {
        pos = start; // the next scheme, or the end
        break;
      }
      pos++;
      skip(/\s/);
      challenge.params[name.toLowerCase()] = header.charAt(pos) === '"' ? quoted() : token();
    }
  }
  return out;
}
