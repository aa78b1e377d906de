package web_test

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// testDemoAuto opens the demo page as a shared link would, with ?auto=1, and
// never clicks: the page signs in, subscribes to the link's topic, publishes a
// greeting there and shows it; a second user's page greets the first one's too,
// and pushes from a service arrive as on a page signed in by hand.
func (e *env) testDemoAuto(t *testing.T) {
	topic := "lobby-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	link := func(user string) string {
		q := url.Values{"user": {user}, "auto": {"1"}, "topic": {topic}, "ws": {e.node.wsURL()}}
		return e.site.url + "/?" + q.Encode()
	}
	shows := func(text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#pushes li")].some(li => li.textContent.includes(%q))`, text)
	}
	p := e.br.open(t, link("zoe"))
	p.wait(`document.getElementById("state").textContent === "connected"`, 10*time.Second)
	p.wait(shows("zoe is here"), 10*time.Second)
	p.check(fmt.Sprintf(`
		if (!document.getElementById("signin-card").classList.contains("hidden")) return "the sign-in card still shows";
		if (document.getElementById("who").textContent !== "zoe") return "signed in as " + document.getElementById("who").textContent;
		const chips = [...document.querySelectorAll("#topics li")].map(li => li.firstChild.textContent);
		if (chips.join() !== %q) return "topics " + chips.join();
		const li = [...document.querySelectorAll("#pushes li")].find(li => li.textContent.includes("zoe is here"));
		if (!li.textContent.includes("topic %s") || !li.textContent.includes("from zoe")) return "greeting " + li.textContent;
		if (![...document.querySelectorAll("#log li")].some(li => li.textContent.includes("auto=1: signed in as zoe, subscribed to %s")))
			return "log " + document.getElementById("log").textContent;`, topic, topic, topic))

	q := e.br.open(t, link("yan"))
	q.wait(shows("yan is here"), 10*time.Second)
	p.wait(shows("yan is here"), 10*time.Second)

	e.xadd(t, "to", "zoe", "from", "shop", "data", `{"text":"only for zoe"}`)
	e.xadd(t, "topic", topic, "from", "newsroom", "data", `{"text":"for the lobby"}`)
	p.wait(shows("only for zoe")+" && "+shows("for the lobby"), 10*time.Second)
	q.wait(shows("for the lobby"), 10*time.Second)
	p.check(`if (document.getElementById("count").textContent !== "4") return "count " + document.getElementById("count").textContent;`)
	q.check(`if (document.getElementById("count").textContent !== "2") return "count " + document.getElementById("count").textContent;`)
}
