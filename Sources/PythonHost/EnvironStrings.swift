@preconcurrency import CPython
import Glibc

/// The str objects of one interpreter's environ names and recent values, reused from one
/// request to the next. A request's CGI variables are mostly the same names with mostly the
/// same values (SERVER_SOFTWARE, SCRIPT_FILENAME, HTTP_HOST, ...): decoding, hashing,
/// interning and freeing some 80 new strings per request was half of the host's own work.
///
/// A name is kept as an interned str whose hash is computed once; a value is kept as the str
/// last made for that name, reused while the next request's bytes are the same (a str is
/// immutable, so environ dicts and applications can share it). Values that keep changing
/// (times, ids, ports) stop being kept. Both are bounded: at most `maximumNames` names of up to
/// `maximumNameLength` bytes (client-chosen HTTP_* names beyond that are simply not kept) and
/// values of up to `maximumValueLength` bytes.
///
/// Used only with the interpreter's GIL held (its objects are that interpreter's), and not at
/// all when the GIL can be disabled (a free-threaded build: `Interpreter.environStrings` is nil).
final class EnvironStrings {
    private struct Entry {
        var hash: UInt64 = 0
        var name: UnsafeMutablePointer<UInt8>? = nil  // a copy of the name's bytes
        var nameLength = 0
        var key: PyPointer? = nil                     // owned: the interned str
        var value: PyPointer? = nil                   // owned: the str last made for it, or nil
        var valueBytes: UnsafeMutablePointer<UInt8>? = nil  // that value's bytes
        var valueLength = 0
        var valueCapacity = 0
        var changes = 0                               // value changes since it last repeated
    }

    static let slotCount = 256  // a power of two
    static let maximumNames = 192
    static let maximumNameLength = 96
    static let maximumValueLength = 256
    /// A value that changed this many requests in a row is no longer kept.
    static let volatileAfter = 8

    private let slots: UnsafeMutablePointer<Entry>
    private var count = 0

    init() {
        slots = .allocate(capacity: Self.slotCount)
        slots.initialize(repeating: Entry(), count: Self.slotCount)
    }

    // The interpreters live as long as the process; so does this table (its strs are released
    // with the interpreter at exit).

    /// A hash of a C string's length, first and last 8 bytes (names that share both ends
    /// only cost a probe and a compare more), and its length.
    @inline(__always)
    private static func hash(_ p: UnsafePointer<UInt8>) -> (UInt64, Int) {
        let length = strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
        var h = UInt64(length) &* 0x9e37_79b9_7f4a_7c15
        if length >= 8 {
            let raw = UnsafeRawPointer(p)
            h ^= raw.loadUnaligned(as: UInt64.self)
            h = (h ^ (h >> 29)) &* 0xbf58_476d_1ce4_e5b9
            h ^= raw.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
        } else {
            for i in 0..<length { h = (h << 8) | UInt64(p[i]) }
        }
        h = (h ^ (h >> 32)) &* 0x94d0_49bb_1331_11eb
        return (h ^ (h >> 29), length)
    }

    /// The slot holding name, or the empty slot where it would go; nil when absent and the
    /// table takes no more names.
    @inline(__always)
    private func slot(_ name: UnsafePointer<UInt8>, _ hash: UInt64, _ length: Int) -> Int? {
        var i = Int(truncatingIfNeeded: hash) & (Self.slotCount - 1)
        while let stored = slots[i].name {
            if slots[i].hash == hash && slots[i].nameLength == length && memcmp(stored, name, length) == 0 { return i }
            i = (i + 1) & (Self.slotCount - 1)
        }
        return count < Self.maximumNames && length <= Self.maximumNameLength ? i : nil
    }

    /// The entry for name, made on first use (its interned str with the hash computed). nil
    /// when the table takes no more names, or with a Python exception set when the str could
    /// not be made.
    @inline(__always)
    private func entry(_ cName: UnsafePointer<CChar>, _ gil: borrowing GIL) -> Int? {
        let name = UnsafeRawPointer(cName).assumingMemoryBound(to: UInt8.self)
        let (h, length) = Self.hash(name)
        guard let i = slot(name, h, length) else { return nil }
        if slots[i].name != nil { return i }
        var made = PyUnicode_DecodeLatin1(cName, length, nil)
        if made != nil { PyUnicode_InternInPlace(&made) }
        guard let key = made else { return nil }
        guard PyObject_Hash(key) != -1 else {
            Py_DecRef(key)
            return nil
        }
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, length))
        copy.initialize(from: name, count: length)
        slots[i] = Entry(hash: h, name: copy, nameLength: length, key: key)
        count += 1
        return i
    }

    /// The interned str for name (borrowed: the table keeps it), or nil when the table takes no
    /// more names (then the caller makes its own), possibly with an exception set.
    func key(_ name: UnsafePointer<CChar>, _ gil: borrowing GIL) -> PyPointer? {
        entry(name, gil).flatMap { slots[$0].key }
    }

    /// dict[name] = value, both latin-1 C strings, reusing the strs of earlier requests. False
    /// with a Python exception set on failure.
    func set(_ dict: PyPointer, name: UnsafePointer<CChar>, value: UnsafePointer<CChar>, _ gil: borrowing GIL) -> Bool {
        guard let i = entry(name, gil), let key = slots[i].key else {
            if PyErr_Occurred() != nil { return false }
            guard let k = Py.latin1(name, gil), let v = Py.latin1(value, gil) else { return false }
            return PyDict_SetItem(dict, k.pointer, v.pointer) == 0
        }
        let length = strlen(value)
        let bytes = UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self)
        if let cached = slots[i].value, slots[i].valueLength == length,
           let stored = slots[i].valueBytes, memcmp(stored, bytes, length) == 0 {
            slots[i].changes = 0
            return PyDict_SetItem(dict, key, cached) == 0
        }
        guard let v = PyRef(owningOrNil: PyUnicode_DecodeLatin1(value, length, nil)) else { return false }
        keep(v.pointer, bytes, length, at: i)
        return PyDict_SetItem(dict, key, v.pointer) == 0
    }

    /// Remembers value (bytes, length) as slot i's latest, unless it keeps changing or is long.
    @inline(__always)
    private func keep(_ value: PyPointer, _ bytes: UnsafePointer<UInt8>, _ length: Int, at i: Int) {
        if slots[i].value != nil { slots[i].changes += 1 }
        if let old = slots[i].value {
            slots[i].value = nil
            Py_DecRef(old)
        }
        guard length <= Self.maximumValueLength, slots[i].changes < Self.volatileAfter else { return }
        if slots[i].valueCapacity < length {
            slots[i].valueBytes?.deallocate()
            slots[i].valueCapacity = max(16, length)
            slots[i].valueBytes = .allocate(capacity: slots[i].valueCapacity)
        }
        slots[i].valueBytes?.update(from: bytes, count: length)
        slots[i].valueLength = length
        Py_IncRef(value)
        slots[i].value = value
    }

    /// dict[name] = object (borrowed; the dict takes its own reference). False with a Python
    /// exception set on failure.
    func set(_ dict: PyPointer, name: String, object: PyPointer, _ gil: borrowing GIL) -> Bool {
        name.withCString { cName in
            if let key = key(cName, gil) { return PyDict_SetItem(dict, key, object) == 0 }
            if PyErr_Occurred() != nil { return false }
            return PyDict_SetItemString(dict, cName, object) == 0
        }
    }
}
