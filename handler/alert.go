package handler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// The alerts of a Glue Session Alert event (README, Alerts).
const (
	AlertStuck       = "STUCK"
	AlertRunningLong = "RUNNING_LONG"
	AlertIdle        = "IDLE"
	AlertCost        = "COST"
)

// Threshold is the threshold an alert crossed: one of its fields is set.
type Threshold struct {
	Minutes *int     `json:"minutes,omitempty"`
	Hours   *float64 `json:"hours,omitempty"`
	USD     *float64 `json:"usd,omitempty"`
}

// Activity is what ListStatements told of a READY session's statements.
type Activity struct {
	// Busy is set when a statement is WAITING or RUNNING.
	Busy bool
	// LastCompleted is when the last statement ended; nil when none has.
	LastCompleted *time.Time
}

// alerts returns the alerts the session crosses at this observation, in
// order (STUCK, RUNNING_LONG, IDLE, COST; thresholds ascending), each
// once per session, condition and threshold (once per idle spell): a key
// in next.Fired says it was announced. It does not change next.
func alerts(next *state.Snapshot, cur *gluetypes.Session, obs Observation, rules Rules, cost *Cost) []change {
	var out []change
	fired := func(key string) bool { return slices.Contains(next.Fired, key) }
	status := next.Status
	costNote := ""
	if cost != nil {
		costNote = fmt.Sprintf("; estimated cost so far $%.2f", cost.EstimatedUSD)
	}

	if (status == "PROVISIONING" || status == "STOPPING") && rules.StuckMinutes > 0 {
		since := next.ObservedAt
		if next.StatusSince != nil {
			since = *next.StatusSince
		}
		key := AlertStuck + ":" + status
		if elapsed := obs.At.Sub(since); elapsed > time.Duration(rules.StuckMinutes)*time.Minute && !fired(key) {
			out = append(out, alertChange(AlertStuck, key, Threshold{Minutes: &rules.StuckMinutes},
				fmt.Sprintf("Session %s has been %s for %d minutes (threshold %d)%s", next.SessionID, status, int(elapsed.Minutes()), rules.StuckMinutes, costNote)))
		}
	}
	if status == "READY" && cur.CreatedOn != nil {
		age := obs.At.Sub(*cur.CreatedOn)
		for _, h := range rules.RunningHours {
			key := AlertRunningLong + ":" + strconv.FormatFloat(h, 'g', -1, 64)
			if age > time.Duration(h*float64(time.Hour)) && !fired(key) {
				out = append(out, alertChange(AlertRunningLong, key, Threshold{Hours: &h},
					fmt.Sprintf("Session %s has been %s for %s hours (threshold %g)%s", next.SessionID, status, tenths(age.Hours()), h, costNote)))
			}
		}
	}
	if status == "READY" && rules.IdleMinutes > 0 && obs.Activity != nil && !obs.Activity.Busy {
		since := obs.Activity.LastCompleted
		if since == nil {
			since = cur.CreatedOn
		}
		if since != nil {
			key := AlertIdle + ":" + since.UTC().Format(time.RFC3339)
			if idle := obs.At.Sub(*since); idle > time.Duration(rules.IdleMinutes)*time.Minute && !fired(key) {
				out = append(out, alertChange(AlertIdle, key, Threshold{Minutes: &rules.IdleMinutes},
					fmt.Sprintf("Session %s has been idle for %d minutes (threshold %d)%s", next.SessionID, int(idle.Minutes()), rules.IdleMinutes, costNote)))
			}
		}
	}
	if cost != nil {
		for _, usd := range rules.CostUSD {
			key := AlertCost + ":" + strconv.FormatFloat(usd, 'g', -1, 64)
			if cost.EstimatedUSD > usd && !fired(key) {
				out = append(out, alertChange(AlertCost, key, Threshold{USD: &usd},
					fmt.Sprintf("Session %s has cost an estimated $%.2f so far (threshold $%g)", next.SessionID, cost.EstimatedUSD, usd)))
			}
		}
	}
	return out
}

func alertChange(alert, key string, threshold Threshold, message string) change {
	return change{detailType: DetailTypeAlert, alert: alert, fired: key, threshold: &threshold, message: message}
}

// remember adds the key of an announced alert to fired: an IDLE alert
// replaces the key of an earlier idle spell.
func remember(fired []string, key string) []string {
	if strings.HasPrefix(key, AlertIdle+":") {
		fired = slices.DeleteFunc(slices.Clone(fired), func(k string) bool { return strings.HasPrefix(k, AlertIdle+":") })
	}
	return append(fired, key)
}

// forgetStuck drops the STUCK keys of earlier statuses: a session stuck
// again in another status alerts again.
func forgetStuck(fired []string) []string {
	return slices.DeleteFunc(slices.Clone(fired), func(k string) bool { return strings.HasPrefix(k, AlertStuck+":") })
}

// tenths writes hours rounded down to a tenth, without a trailing ".0":
// "8" for 8 hours and 3 minutes, "8.2" for 8 hours 15 minutes, "0.5" for
// 35 minutes past a threshold of half an hour (whole hours alone would say
// "0").
func tenths(hours float64) string {
	return strconv.FormatFloat(math.Floor(hours*10)/10, 'f', -1, 64)
}
