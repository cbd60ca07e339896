// expect: overlapping accesses to 'unlocked'
func nestedWithGIL(_ interpreter: Interpreter, _ unlocked: inout Unlocked) {
    withGIL(in: interpreter, &unlocked) { gil in
        withGIL(in: interpreter, &unlocked) { _ in }
    }
}
