package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
)

// Webhook is a subscription of a downstream application to a tenant's events.
type Webhook struct {
	ID         string    `json:"id"`
	Connection string    `json:"connection,omitempty" doc:"connection slug; absent for the control plane's events"`
	URL        string    `json:"url"`
	Actions    []string  `json:"actions" doc:"exact actions or prefixes ending in '.'; empty for every action"`
	State      string    `json:"state" doc:"active or disabled"`
	Format     string    `json:"format" doc:"standard (Standard Webhooks) or orgscim (Orgscim-Signature)"`
	Created    time.Time `json:"created"`
	Secret     string    `json:"secret,omitempty" doc:"the signing secret: only in the answer to its creation"`
	Pending    int64     `json:"pending"`
	Delivered  int64     `json:"delivered"`
	Dead       int64     `json:"dead"`
}

// WebhookList is every subscription.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// CreateWebhookRequest subscribes a URL.
type CreateWebhookRequest struct {
	Connection string   `json:"connection,omitempty" doc:"connection slug; absent for the control plane's events"`
	URL        string   `json:"url" doc:"http:// or https://, without credentials"`
	Actions    []string `json:"actions,omitempty"`
	Format     string   `json:"format,omitempty" doc:"standard (the default) or orgscim"`
}

// UpdateWebhookRequest switches a subscription's signature format.
type UpdateWebhookRequest struct {
	Format string `json:"format" doc:"standard or orgscim; the secret stays"`
}

// WebhookSubscriptions manages the webhook subscriptions; each change is audited.
type WebhookSubscriptions interface {
	CreateWebhook(ctx context.Context, connectionID, url string, actions []string, format string) (Webhook, error)
	Webhooks(ctx context.Context) ([]Webhook, error)
	SetWebhookFormat(ctx context.Context, id, format string) (Webhook, error)
}

func (s *Server) webhooks(c echo.Context) (WebhookSubscriptions, error) {
	if err := operatorOnly(principal(c)); err != nil {
		return nil, err
	}
	if s.Webhooks == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this server sends no webhooks")
	}
	return s.Webhooks, nil
}

func (s *Server) createWebhook(c echo.Context) error {
	w, err := s.webhooks(c)
	if err != nil {
		return err
	}
	var req CreateWebhookRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("url", req.URL); err != nil {
		return err
	}
	ctx, connID := c.Request().Context(), ""
	if req.Connection != "" {
		conn, err := s.Directory.Connection(ctx, req.Connection)
		if err != nil {
			return err
		}
		connID = conn.ID
	}
	out, err := w.CreateWebhook(ctx, connID, req.URL, req.Actions, req.Format)
	if err != nil {
		return err
	}
	out.Connection = req.Connection
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) listWebhooks(c echo.Context) error {
	w, err := s.webhooks(c)
	if err != nil {
		return err
	}
	list, err := w.Webhooks(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []Webhook{}
	}
	return c.JSON(http.StatusOK, WebhookList{Webhooks: list})
}

func (s *Server) updateWebhook(c echo.Context) error {
	w, err := s.webhooks(c)
	if err != nil {
		return err
	}
	var req UpdateWebhookRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("format", req.Format); err != nil {
		return err
	}
	out, err := w.SetWebhookFormat(c.Request().Context(), c.Param("id"), req.Format)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
