package bench

import (
	"context"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// PointState is what a point looks like a few hours into a power cut: its
// identity, six services, two announcements. origin is the log's.
func PointState(origin string) []node.Draft {
	until := time.Now().Add(24 * time.Hour).UTC()
	return []node.Draft{
		{Type: node.TypePointConfigured, Payload: node.Point{ID: origin, Name: "Byhuset i Ås", Municipality: "2161",
			OpeningHours: "Dygnet runt under strömavbrottet",
			Contacts:     []node.Contact{{Label: "Kommunens krisstöd", Phone: "0650-190 00"}}}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "warmth", Status: node.ServiceOpen, Note: "Stora salen, 19 °C"}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "charging", Status: node.ServiceLimited, Note: "Högst 30 minuter per telefon"}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "water", Status: node.ServiceOpen, Note: "Ta med egen dunk"}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "toilets", Status: node.ServiceOpen}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "first_aid", Status: node.ServiceClosed, Note: "Åter kl. 18"}},
		{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "information", Status: node.ServiceOpen}},
		{Type: node.TypeAnnouncementPublished, Payload: node.Announcement{ID: node.NewID(), Severity: "warning",
			Title: map[string]string{"sv": "Koka dricksvattnet", "en": "Boil drinking water"},
			Body: map[string]string{"sv": "Vattenverket saknar reservkraft. Koka vattnet i minst en minut innan du dricker det.",
				"en": "The waterworks has no backup power. Boil water for at least one minute before drinking it."},
			ValidUntil: &until, Source: "node:" + origin}},
		{Type: node.TypeAnnouncementPublished, Payload: node.Announcement{ID: node.NewID(), Severity: "info",
			Title: map[string]string{"sv": "Strömmen väntas tillbaka i kväll", "en": "Power expected back tonight"},
			Body: map[string]string{"sv": "Elbolaget räknar med att strömmen är tillbaka omkring kl. 22. Vi håller öppet till dess.",
				"en": "The grid company expects power back around 22:00. We stay open until then."},
			Source: "node:" + origin}},
	}
}

// Append appends drafts to l in order.
func Append(ctx context.Context, l *eventlog.Log, drafts []node.Draft) error {
	for _, d := range drafts {
		if _, err := l.Append(ctx, d); err != nil {
			return err
		}
	}
	return nil
}
