package handler

// Fit is fit, for the property test of fit_test.go.
var Fit = fit
