package audit

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestStepUp(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := WithStepUp(context.Background(), at)
	for _, c := range []struct {
		name string
		ctx  context.Context
		diff json.RawMessage
		want string
	}{
		{"no step-up leaves the diff alone", context.Background(), Diff(nil, map[string]any{"a": 1}), `{"a":{"after":1}}`},
		{"a diff gains the authentication as a field that appeared", fresh, Diff(nil, map[string]any{"a": 1}),
			`{"a":{"after":1},"authenticated_at":{"after":"2030-01-02T03:04:05Z"}}`},
		{"a detail too", fresh, Detail(map[string]any{"reason": "x"}), `{"authenticated_at":{"after":"2030-01-02T03:04:05Z"},"reason":"x"}`},
		{"an event without a diff gets one", fresh, nil, `{"authenticated_at":{"after":"2030-01-02T03:04:05Z"}}`},
		{"recording twice changes nothing", fresh, StepUp(fresh, Event{Diff: Detail(map[string]any{"r": 1})}).Diff,
			`{"authenticated_at":{"after":"2030-01-02T03:04:05Z"},"r":1}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(StepUp(c.ctx, Event{Diff: c.diff}).Diff); got != c.want {
				t.Fatalf("diff %s, want %s", got, c.want)
			}
		})
	}
}
