// expect: overlapping accesses to 'unlocked'
func nestedWithGIL(_ interpreter: Interpreter, _ unlocked: inout Unlocked) {
    _ = try? withGIL(in: interpreter, &unlocked) { gil in
        _ = try? withGIL(in: interpreter, &unlocked) { _ in }
    }
}
