@preconcurrency public import CSwiftWSGI

/// The calls that embed `swiftwsgi_script_call_t` (a WSGI request, an authentication or a
/// dispatch script call) read its fields through this one protocol extension. Each pointer is
/// Optional as C gives it: the shim fills them, and a caller that needs one checks it (a
/// missing one is a 500, never a trap).
public protocol ScriptCall {
    var call: swiftwsgi_script_call_t { get }
}

extension ScriptCall {
    public var handle: swiftwsgi_request_handle_t? { call.handle }
    public var environ: UnsafePointer<swiftwsgi_kv_t>? { call.environ }
    public var environ_count: Int { call.environ_count }
    public var script_filename: UnsafePointer<CChar>? { call.script_filename }
    public var script_mtime: Int64 { call.script_mtime }
    public var server_hostname: UnsafePointer<CChar>? { call.server_hostname }
    public var server_port: Int32 { call.server_port }
    /// The shim's getters apply the default; nil only from a broken caller.
    public var application_group: UnsafePointer<CChar>? { call.application_group }
}

extension swiftwsgi_request_t: ScriptCall {}
extension swiftwsgi_auth_request_t: ScriptCall {}
extension swiftwsgi_dispatch_request_t: ScriptCall {}
