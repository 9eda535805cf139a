package handler

// Fit is fit, for the property test of fit_test.go.
var Fit = fit

// WorkerDPU is workerDPU, for TestCostOf to hold it to the README's table (Cost).
var WorkerDPU = workerDPU
