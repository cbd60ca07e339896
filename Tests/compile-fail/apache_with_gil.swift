// expect: overlapping accesses to 'unlocked'
// An Apache call (or a nested withGIL) inside withGIL: the body cannot use the caller's Unlocked.
func apacheCallWithGILHeld(_ interpreter: Interpreter, _ unlocked: inout Unlocked, _ ops: ApacheOps) {
    _ = try? withGIL(in: interpreter, &unlocked) { gil in
        ops.log(nil, 3, .applicationFailed, "logged with the GIL held", unlocked)
    }
}
