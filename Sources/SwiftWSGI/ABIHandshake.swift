@preconcurrency import CSwiftWSGI

/// The version and struct-size handshake the shim makes before any other call
/// (swiftwsgi_abi_handshake in swiftwsgi_abi.h): after an upgrade and a graceful restart, the
/// newly loaded shim may face this library of an earlier build (it is never unloaded), and a
/// struct of another layout must be refused before it is read.
enum ABIHandshake {
    /// Whether a shim of this library's ABI has shaken hands in this process (a daemon or an Apache
    /// child inherits its parent's). The entry points that take a struct refuse until then.
    nonisolated(unsafe) static var agreed = false

    /// This side's struct sizes, in swiftwsgi_abi_struct_size()'s order, with their names.
    static var ownSizes: [(name: String, size: Int)] {
        var sizes: [(name: String, size: Int)] = []
        while true {
            var name: UnsafePointer<CChar>? = nil
            let size = swiftwsgi_abi_struct_size(sizes.count, &name)
            guard size > 0 else { return sizes }
            sizes.append((name.map { String(cString: $0) } ?? "struct \(sizes.count)", size))
        }
    }

    /// Why a shim of version and struct sizes cannot use this library, or nil when it can.
    static func problem(version: Int, sizes: [Int]) -> String? {
        let own = Int(SWIFTWSGI_ABI_VERSION)
        if version != own {
            return "the Swift host library speaks ABI \(own), this module ABI \(version)"
        }
        let mine = ownSizes
        if sizes.count != mine.count {
            return
                "the Swift host library has \(mine.count) ABI structs, this module \(sizes.count) (both say ABI \(own))"
        }
        for (i, (name, size)) in mine.enumerated() where sizes[i] != size {
            return
                "\(name) is \(size) bytes in the Swift host library, \(sizes[i]) in this module (both say ABI \(own))"
        }
        return nil
    }

    /// The reason an entry point refuses a struct when no handshake succeeded.
    static let notAgreed =
        "the module did not complete the ABI handshake with the Swift host library "
        + "(a module of an earlier build?): install both from the same build, then stop and start Apache"
}
