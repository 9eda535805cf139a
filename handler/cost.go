package handler

import (
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// workerDPU is the DPU of one worker of each worker type (README, Cost).
// A type not listed leaves the session's DPU unknown: never guessed.
var workerDPU = map[string]float64{
	"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.12X": 12, "G.16X": 16,
	"Z.2X": 2, "R.1X": 1, "R.2X": 2, "R.4X": 4, "R.8X": 8,
}

// Cost is what a session has cost so far: the cost block of its events.
type Cost struct {
	// DPU is the session's capacity: MaxCapacity, else its workers times
	// their type's DPU; nil when unknown.
	DPU *float64 `json:"dpu,omitempty"`
	// DPUHours are the DPU-hours used so far.
	DPUHours float64 `json:"dpuHours"`
	// EstimatedUSD is DPUHours at DPU_HOUR_USD, to the cent.
	EstimatedUSD float64 `json:"estimatedUsd"`
	// Basis says where DPUHours come from: "glue" (Glue's DPUSeconds) or
	// "estimate" (DPU times the hours since CreatedOn).
	Basis string `json:"basis"`
}

// The bases of a cost.
const (
	BasisGlue     = "glue"
	BasisEstimate = "estimate"
)

// CostOf estimates what the session s had cost when observed at at, at
// price dollars a DPU-hour; nil when its capacity is unknown (README,
// Cost: the cost block is there when the session's capacity is known) or
// its DPU-hours cannot be had. A finished session's DPU-hours are Glue's
// DPUSeconds when it reports them, else its DPU times the hours from
// CreatedOn to CompletedOn (to the observation, when Glue gives no
// CompletedOn); an unfinished one's are the larger of Glue's figure and
// its DPU times the hours from CreatedOn to at (Glue may fill DPUSeconds
// only at the end).
func CostOf(s *gluetypes.Session, at time.Time, price float64) *Cost {
	dpu := capacity(s)
	if dpu == nil {
		return nil
	}
	var glue *float64
	if v := finite(s.DPUSeconds); v != nil && *v >= 0 {
		h := *v / 3600
		glue = &h
	}
	end := at
	if state.IsFinished(string(s.Status)) {
		if glue != nil {
			return priced(dpu, *glue, BasisGlue, price)
		}
		if s.CompletedOn != nil {
			end = *s.CompletedOn
		}
	}
	var estimate *float64
	if s.CreatedOn != nil {
		h := *dpu * max(0, end.Sub(*s.CreatedOn).Hours())
		estimate = &h
	}
	switch {
	case estimate == nil && glue == nil:
		return nil
	case estimate == nil || (glue != nil && *glue >= *estimate):
		return priced(dpu, *glue, BasisGlue, price)
	}
	return priced(dpu, *estimate, BasisEstimate, price)
}

func priced(dpu *float64, hours float64, basis string, price float64) *Cost {
	if math.IsInf(hours, 0) || math.IsNaN(hours) {
		return nil
	}
	return &Cost{DPU: dpu, DPUHours: round(hours, 4), EstimatedUSD: round(hours*price, 2), Basis: basis}
}

// capacity is a session's DPU: MaxCapacity, else NumberOfWorkers times
// the DPU of its worker type; nil when unknown (a missing, negative or
// not-a-number capacity, an unknown worker type).
func capacity(s *gluetypes.Session) *float64 {
	if c := finite(s.MaxCapacity); c != nil && *c > 0 {
		return c
	}
	per, ok := workerDPU[string(s.WorkerType)]
	if !ok || aws.ToInt32(s.NumberOfWorkers) <= 0 {
		return nil
	}
	dpu := per * float64(*s.NumberOfWorkers)
	return &dpu
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
