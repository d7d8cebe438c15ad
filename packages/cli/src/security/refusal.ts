/** Codes of transport-tcp's refusals: a TLS or PSK peer was refused, or refused us. */
const REFUSAL_CODE = /^MC_ERR_(TLS_|AUTH_PSK)/;

/**
 * The refusal in an error's cause chain (`MC_ERR_TLS_CERT_UNTRUSTED: ...`), or null when the error
 * is not about credentials.
 */
export function refusalIn(error: unknown): string | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && REFUSAL_CODE.test(code)) {
      const reason = (e as { reason?: unknown }).reason;
      return `${code}${typeof reason === 'string' ? ` ${reason}` : ''}: ${e.message.trim().replace(/\s+/g, ' ')}`;
    }
  }
  return null;
}
