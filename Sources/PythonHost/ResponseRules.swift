/// The byte-level rules for what an application hands to start_response: the status line,
/// header names and values, and a Content-Length value. Pure functions over the latin-1 bytes
/// the request path makes of Python's str (read in place), unit-tested in ResponseRulesTests.
enum ResponseRules {
    /// Why a status line is refused (mod_wsgi's messages), or nil: three digits not starting
    /// with 0, a space, then a reason phrase (possibly empty) without control characters.
    /// "200" alone is refused, as in mod_wsgi.
    static func statusProblem(_ bytes: UnsafeRawBufferPointer) -> String? {
        let digits = bytes.prefix(3)
        if bytes.count < 3 || !digits.allSatisfy(isDigit) || (bytes.count > 3 && isDigit(bytes[3])) || digits.first == 0x30 {
            return "status code is not a 3 digit integer"
        }
        if bytes.count == 3 || bytes[3] != 0x20 { return "no space following status code" }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return "control character present in reason phrase" }
        return nil
    }

    /// The numeric code of a status line that `statusProblem` accepted.
    static func statusCode(_ line: UnsafeRawBufferPointer) -> Int32 {
        Int32(line.prefix(3).reduce(0) { $0 * 10 + Int($1 &- 0x30) })
    }

    /// Why a header name (an RFC 9110 token) or value (no CR, LF or NUL) is refused, or nil.
    static func headerProblem(_ bytes: UnsafeRawBufferPointer, isName: Bool) -> String? {
        if isName {
            return !bytes.isEmpty && bytes.allSatisfy(isTokenByte) ? nil : "invalid character in header name"
        }
        return bytes.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 })
            ? "carriage return/line feed character present in header value" : nil
    }

    /// A Content-Length value: decimal digits (an optional sign, spaces and tabs around
    /// allowed), not negative, within Int64; nil otherwise (never a trap on overflow).
    static func contentLength(_ value: String) -> Int64? {
        guard let n = Int64(value.trimmingSpaces), n >= 0 else { return nil }
        return n
    }

    @inline(__always)
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}

/// RFC 9110 token characters: a bit for each byte below 128 (letters, digits and
/// !#$%&'*+-.^_`|~), tested without a loop (it runs for every byte of every header name).
@inline(__always)
func isTokenByte(_ b: UInt8) -> Bool {
    let below64: UInt64 = 0x03ff_6cfa_0000_0000, from64: UInt64 = 0x57ff_ffff_c7ff_fffe
    return b < 64 ? (below64 >> UInt64(b)) & 1 == 1 : b < 128 ? (from64 >> UInt64(b - 64)) & 1 == 1 : false
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
