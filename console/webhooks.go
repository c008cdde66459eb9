package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/webhooks"
)

// maxDeliveries bounds the deliveries a subscription's page lists.
const maxDeliveries = 200

type subscriptionRow struct {
	webhooks.Subscription
	URL  string // of its page
	Next string // when the next attempt is due, relative to now
}

type webhooksView struct {
	Subscriptions []subscriptionRow
}

type webhookView struct {
	Sub        subscriptionRow
	Deliveries []delivery // the newest, newest first
	Total      int        // of all the subscription's deliveries
	Done       string
}

type delivery struct {
	webhooks.DeliveryStatus
	Next string
}

func (s *Server) webhookService(c echo.Context) (Webhooks, error) {
	if err := operatorOnly(person(c)); err != nil {
		return nil, err
	}
	if s.Webhooks == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this server sends no webhooks")
	}
	return s.Webhooks, nil
}

// until says when at is, from now: "due now" once it has passed.
func until(at, now time.Time) string {
	if d := at.Sub(now); d > 0 {
		return "in " + d.Round(time.Second).String()
	}
	return "due now"
}

func (s *Server) subscriptions(c echo.Context) ([]subscriptionRow, error) {
	w, err := s.webhookService(c)
	if err != nil {
		return nil, err
	}
	list, err := w.List(c.Request().Context())
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]subscriptionRow, len(list))
	for i, sub := range list {
		out[i] = subscriptionRow{Subscription: sub, URL: Prefix + "/webhooks/" + url.PathEscape(sub.ID)}
		if sub.NextAttemptAt != nil {
			out[i].Next = until(*sub.NextAttemptAt, now)
		}
	}
	return out, nil
}

func (s *Server) webhooksPage(c echo.Context) error {
	subs, err := s.subscriptions(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "webhooks", view{Title: "Webhooks", Page: webhooksView{Subscriptions: subs}})
}

func (s *Server) webhookPage(c echo.Context) error {
	subs, err := s.subscriptions(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	for _, sub := range subs {
		if sub.ID != id {
			continue
		}
		// Newest first: what failed last matters most, however many came before.
		list, total, err := s.Webhooks.NewestDeliveries(c.Request().Context(), id, maxDeliveries)
		if err != nil {
			return err
		}
		now := s.now()
		v := webhookView{Sub: sub, Done: c.QueryParam("done"), Total: total}
		for _, l := range list {
			d := delivery{DeliveryStatus: l}
			if !d.NextAttempt.IsZero() {
				d.Next = until(d.NextAttempt, now)
			}
			v.Deliveries = append(v.Deliveries, d)
		}
		return s.render(c, http.StatusOK, "webhook", view{Title: "Webhook " + id, Page: v})
	}
	return orgscim.Errorf(orgscim.NotFound, "no webhook subscription %q", id)
}

// disableWebhook disables a subscription as `orgscim webhook disable` does: audited,
// its pending deliveries given up.
func (s *Server) disableWebhook(c echo.Context) error {
	w, err := s.webhookService(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if _, err := w.Disable(c.Request().Context(), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/webhooks/"+url.PathEscape(id)+"?done=disabled")
}
