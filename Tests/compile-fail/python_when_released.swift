// expect: overlapping accesses to 'gil'
// Python inside gil.released: the body cannot use the GIL token it was called on.
func pythonWithoutGIL(_ gil: inout GIL) {
    gil.released { _ in
        _ = Py.string("touched without the GIL", gil)
    }
}
