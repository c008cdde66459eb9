package scim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

type discardStore struct{}

func (discardStore) AddHealth(context.Context, []connhealth.Batch, int) error { return nil }
func (discardStore) Health(context.Context, string) (*connhealth.Health, error) {
	return &connhealth.Health{}, nil
}
func (discardStore) RequestLog(context.Context, string, int) ([]connhealth.Logged, error) {
	return nil, nil
}

// BenchmarkRecordRequests is what recording costs a SCIM request on its own path: the
// body captures and the hand-over to the recorder (redaction and storage come later,
// in the flush), against the same request unrecorded.
func BenchmarkRecordRequests(b *testing.B) {
	body := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@acme.example","password":"x",` +
		`"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@acme.example","type":"work","primary":true}],"active":true}`)
	for _, on := range []bool{false, true} {
		name := "off"
		s := &Server{}
		if on {
			name = "on"
			s.Health = &connhealth.Recorder{Store: discardStore{}, Every: time.Hour}
		}
		e := echo.New()
		e.Pre(s.RecordRequests)
		conn := &orgs.Connection{ID: "c1", Slug: "acme"}
		e.POST(Prefix+":conn/Users", func(c echo.Context) error {
			c.Set(connectionKey, conn)
			in, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			return c.Blob(http.StatusCreated, ContentType, in)
		})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, Prefix+"acme/Users", bytes.NewReader(body))
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
