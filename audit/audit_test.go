package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func chain(n int) []*Event {
	var out []*Event
	prev := ""
	t0 := time.Unix(1_800_000_000, 0)
	for i := 1; i <= n; i++ {
		e := &Event{ID: fmt.Sprintf("e%d", i), Time: t0.Add(time.Duration(i) * time.Second),
			Actor: "token:t1", ConnectionID: "c1", Action: "user.update", TargetType: "user",
			TargetID: "u1", Diff: json.RawMessage(fmt.Sprintf(`{"title":{"after":"v%d"}}`, i))}
		Seal(e, "c1", int64(i), prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func verify(events []*Event, head Head) []Break {
	v := NewVerifier(head)
	for _, e := range events {
		v.Add(e)
	}
	return v.Done()
}

func TestVerifyDetectsEachKindOfTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]*Event) []*Event
		seq    int64  // where the first break must be named
		want   string // in its problem
	}{
		{"intact", func(es []*Event) []*Event { return es }, 0, ""},
		{"modified", func(es []*Event) []*Event {
			es[4].Diff = json.RawMessage(`{"title":{"after":"evil"}}`)
			return es
		}, 5, "modified"},
		{"modified and rehashed", func(es []*Event) []*Event {
			es[4].Actor = "operator:mallory"
			es[4].Hash = ComputeHash(es[4])
			return es
		}, 6, "previous hash"},
		{"deleted", func(es []*Event) []*Event { return append(es[:4:4], es[5:]...) }, 6, "missing"},
		{"truncated middle", func(es []*Event) []*Event { return append(es[:2:2], es[7:]...) }, 8, "3 to 7 are missing"},
		{"truncated end", func(es []*Event) []*Event { return es[:7] }, 8, "truncated"},
		{"inserted", func(es []*Event) []*Event {
			x := *es[3]
			x.ID, x.Actor = "forged", "operator:mallory"
			x.Hash = ComputeHash(&x)
			return append(es[:4:4], append([]*Event{&x}, es[4:]...)...)
		}, 4, "inserted"},
		{"reordered", func(es []*Event) []*Event {
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4 // renumbered to hide the swap
			return es
		}, 3, "reordered"},
		{"other chain", func(es []*Event) []*Event {
			es[1].Chain = "c2"
			return es
		}, 2, "chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := chain(10)
			head := Head{Chain: "c1", Seq: 10, Hash: es[9].Hash}
			breaks := verify(tt.tamper(es), head)
			if tt.want == "" {
				if len(breaks) > 0 {
					t.Fatalf("intact chain: %v", breaks)
				}
				return
			}
			if len(breaks) == 0 {
				t.Fatal("tampering not detected")
			}
			if breaks[0].Seq != tt.seq || !strings.Contains(breaks[0].Problem, tt.want) {
				t.Errorf("first break %v; want seq %d mentioning %q (all: %v)", breaks[0], tt.seq, tt.want, breaks)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	before := map[string]any{"userName": "a@x", "active": true, "name": map[string]any{"givenName": "A", "familyName": "B"},
		"password": "old", "emails": []any{map[string]any{"value": "a@x"}}}
	after := map[string]any{"userName": "a@x", "active": false, "name": map[string]any{"givenName": "A", "familyName": "C"},
		"password": "new", "emails": []any{map[string]any{"value": "b@x"}}, "title": "Boss"}
	got := string(Diff(before, after))
	want := `{"active":{"before":true,"after":false},"emails":{"before":[{"value":"a@x"}],"after":[{"value":"b@x"}]},` +
		`"name.familyName":{"before":"B","after":"C"},"password":{"before":"[redacted]","after":"[redacted]"},"title":{"after":"Boss"}}`
	if got != want {
		t.Errorf("Diff:\n got %s\nwant %s", got, want)
	}
	if got := string(Diff(nil, map[string]any{"token": "secret-value", "n": 1})); got != `{"n":{"after":1},"token":{"after":"[redacted]"}}` {
		t.Errorf("creation diff: %s", got)
	}
	if got := string(Detail(map[string]any{"added": []string{"u1"}, "tokenHash": "abc"})); got != `{"added":["u1"],"tokenHash":"[redacted]"}` {
		t.Errorf("Detail: %s", got)
	}
}

func TestSourceComesFromTheContext(t *testing.T) {
	ctx := WithSource(context.Background(), Source{Actor: "token:t1", RequestID: "r1", ClientAddr: "127.0.0.1"})
	e := New(ctx, time.Unix(1, 0), "user.create", "user", "u1")
	if e.Actor != "token:t1" || e.RequestID != "r1" || e.ClientAddr != "127.0.0.1" {
		t.Errorf("event %+v", e)
	}
	if e := New(context.Background(), time.Unix(1, 0), "x", "y", "z"); e.Actor != "system:unknown" {
		t.Errorf("no source: actor %q", e.Actor)
	}
}
