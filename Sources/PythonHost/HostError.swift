/// An error of the host itself (not a Python exception).
public struct HostError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
