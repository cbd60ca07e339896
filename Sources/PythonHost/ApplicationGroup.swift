/// WSGIApplicationGroup values: `%{GLOBAL}` (the main interpreter, named ""), `%{SERVER}`,
/// `%{RESOURCE}` (the default), `%{ENV:name}`, or a literal name.
public enum ApplicationGroup {
    /// Whether spec is acceptable; the reason when it is not.
    public static func validate(_ spec: String) -> String? {
        if spec.hasPrefix("%{") {
            guard spec.hasSuffix("}") else { return "'\(spec)' is missing its closing '}'" }
            switch spec {
            case "%{GLOBAL}", "%{SERVER}", "%{RESOURCE}": return nil
            default:
                if spec.hasPrefix("%{ENV:") && spec.count > 7 { return nil }
                return "unknown expansion '\(spec)': use %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{ENV:variable} or a name"
            }
        }
        return nil
    }

    /// The interpreter name for a request.
    /// - Parameters:
    ///   - server: the virtual host's configured name, with `:port` unless the port is 80 or 443
    ///     (never the client's Host header, so clients cannot make interpreters at will)
    ///   - scriptName: the request's SCRIPT_NAME
    ///   - environment: looks up a request environment variable (for `%{ENV:name}`)
    public static func expand(_ spec: String, server: String, scriptName: String,
                              environment: (String) -> String?) -> String {
        switch spec {
        case "%{GLOBAL}": return ""
        case "%{SERVER}": return server
        case "%{RESOURCE}": return server + "|" + scriptName
        default:
            if spec.hasPrefix("%{ENV:") && spec.hasSuffix("}") {
                let name = String(spec.dropFirst(6).dropLast())
                let value = environment(name) ?? ""
                // The value may itself name %{GLOBAL} etc.; an empty value means the default.
                if value.hasPrefix("%{ENV:") || value.isEmpty {
                    return value.isEmpty ? server + "|" + scriptName : value
                }
                return expand(value, server: server, scriptName: scriptName, environment: { _ in nil })
            }
            return spec
        }
    }

    /// "name" or "name:port", as mod_wsgi names servers.
    public static func serverName(host: String, port: Int) -> String {
        port == 80 || port == 443 || port == 0 ? host : "\(host):\(port)"
    }
}
