/** Protocol preambles read or written before bytes flow: the PROXY protocol header (v1, v2). */
export {
  PROXY_HEADER_ERROR_CODES,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_DEFAULT_MAX_LENGTH,
  PP2_TYPE,
  PP2_SUBTYPE_SSL,
  type ProxyAddress,
  type ProxyFamily,
  type ProxyHeader,
  type ProxyHeaderErrorCode,
  type ProxyHeaderResult,
  type ProxyProtocolVersion,
  type ProxySslInfo,
  type ProxyTlv,
} from './proxy-header.js';
export { ProxyHeaderParser, parseProxyHeader, type ProxyHeaderParserOptions } from './proxy-header-parser.js';
export { encodeProxyHeader, type ProxyHeaderFields } from './proxy-header-encoder.js';
export { normalizeAddress } from './ip-address.js';
export { ProxyHeaderReader, type ProxyHeaderOutcome, type ProxyHeaderReaderOptions } from './proxy-header-reader.js';
export { ACCEPT_PROXY_TIMEOUT, type AcceptProxyOptions } from './proxy-protocol-options.js';
