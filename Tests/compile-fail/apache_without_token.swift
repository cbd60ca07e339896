// expect: missing argument for parameter #5 in call
// defect 3 of issue 14: the reload message was logged with the GIL held. Every Apache call
// takes an Unlocked (only `gil.released` gives one inside a withGIL body).
func reloadMessageWithGILHeld(_ ops: ApacheOps, _ gil: borrowing GIL) {
    ops.log(nil, 6, .scriptReloading, "Reloading WSGI script")
}
