// expect: 'GIL' initializer is inaccessible
func makeToken() {
    let gil = GIL()
    _ = Py.string("x", gil)
}
