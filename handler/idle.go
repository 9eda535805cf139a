package handler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"
)

// Idle detection: for a READY session, when IDLE_MINUTES is set, what its
// statements say of its activity (README, "Idle detection").

// checksIdle tells whether a session Glue answered for needs its idle
// check: idle detection is on and it is READY.
func (h *Handler) checksIdle(answer *gluetypes.Session) bool {
	return h.cfg.IdleMinutes > 0 && answer != nil && answer.Status == gluetypes.SessionStatusReady
}

// checkIdle sets the session's activity from ListStatements. Glue refusing
// it for good (access denied) counts the session in IdleUnchecked; any
// other failure is the session's error, and its other events still go;
// the deadline cutting it short leaves the check for the next run.
func (h *Handler) checkIdle(ctx context.Context, s *session, mu *sync.Mutex, res *Result) {
	a, err := h.activity(ctx, s.id)
	if err == nil {
		s.activity = a
		return
	}
	if ctx.Err() != nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
		res.IdleUnchecked = append(res.IdleUnchecked, s.id)
		h.Logger.WarnContext(ctx, "idle check denied", "sessionId", s.id, "error", err)
		return
	}
	res.fail(s.id, fmt.Errorf("idle check: %w", err))
	h.Logger.WarnContext(ctx, "idle check failed", "sessionId", s.id, "error", err)
}

// activity reads every page of a session's statements and keeps only what
// idle detection needs: whether one is WAITING or RUNNING, and when the
// last one ended. Their code and output (users' code and query results)
// are dropped page by page, never kept, logged or published.
func (h *Handler) activity(ctx context.Context, id string) (*Activity, error) {
	a := &Activity{}
	in := &glue.ListStatementsInput{SessionId: aws.String(id), RequestOrigin: h.origin()}
	for page := 1; ; page++ {
		out, err := h.glue.ListStatements(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list statements page %d: %w", page, glueError("ListStatements", err))
		}
		for i := range out.Statements {
			st := &out.Statements[i]
			if st.State == gluetypes.StatementStateWaiting || st.State == gluetypes.StatementStateRunning {
				a.Busy = true
			}
			// When it ended; a statement Glue gives no end for counts from
			// its start rather than not at all (an idle spell would then
			// wrongly start at CreatedOn).
			t := statementTime(st.CompletedOn)
			if t == nil {
				t = statementTime(st.StartedOn)
			}
			if t != nil && (a.LastCompleted == nil || t.After(*a.LastCompleted)) {
				a.LastCompleted = t
			}
		}
		out.Statements = nil
		next := aws.ToString(out.NextToken)
		if next == "" || next == aws.ToString(in.NextToken) {
			return a, nil
		}
		in.NextToken = &next
	}
}

// statementTime reads a statement's time: an epoch number Glue does not
// give a unit for. Glue's statements follow Apache Livy's, whose times are
// milliseconds; 0 is absent, a value below 10¹¹ is read as seconds (10¹¹
// seconds is the year 5138, 10¹¹ milliseconds March 1973), any other as
// milliseconds.
func statementTime(v int64) *time.Time {
	var t time.Time
	switch {
	case v <= 0:
		return nil
	case v < 1e11:
		t = time.Unix(v, 0).UTC()
	default:
		t = time.UnixMilli(v).UTC()
	}
	return &t
}
