package sqlstore

import "testing"

func TestEventIDsSortInOrderOfCreation(t *testing.T) {
	prev := newEventID()
	for range 20000 { // several thousand within one millisecond
		id := newEventID()
		if id <= prev {
			t.Fatalf("%s after %s", id, prev)
		}
		if len(id) != 36 || id[14] != '7' {
			t.Fatalf("%s is not a version-7 UUID", id)
		}
		prev = id
	}
}
