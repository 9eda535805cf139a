package handler

// Old names of the detail types, kept only until every test uses the new
// ones.
const (
	StateChange = DetailTypeStateChange
	ErrorChange = DetailTypeError
	Deleted     = DetailTypeDeleted
)
