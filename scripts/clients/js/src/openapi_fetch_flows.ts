// Issue 12: the seed-004 flows through a client generated from Roster's OpenAPI document:
// openapi-typescript turns /api/v1/schema/ into generated/roster.d.ts (run_js.sh does it
// against the live server), `tsc --noEmit` checks this program against those types, and the
// compiled program runs against the same server with openapi-fetch.
//
// Configured: `baseUrl` and the bearer token (`headers`), and `Content-Type:
// application/vnd.api+json` — openapi-fetch labels every body `application/json`, which the
// API answers with 415 (JSON:API's media type, no parameters). Everything else is the
// default: its query serializer (`page[size]=2`, arrays repeated: `include=user&include=utility`,
// which the server joins), JSON bodies, JSON responses. Links are followed through the
// operation the document gives their path, with the link's own query; the URL fetched is
// checked to be the link.
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/roster.js";

declare const process: { env: Record<string, string | undefined>; exitCode?: number };

type Membership = components["schemas"]["Membership"];
const MEDIA_TYPE = "application/vnd.api+json";
const BASE = process.env.ROSTER_BASE ?? "http://127.0.0.1:8000";
const client = createClient<paths>({ baseUrl: BASE, headers: { "Content-Type": MEDIA_TYPE } });

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

function equal<T>(actual: T, expected: T, message: string): void {
  check(JSON.stringify(actual) === JSON.stringify(expected),
    `${message}: ${JSON.stringify(actual)} !== ${JSON.stringify(expected)}`);
}

/** The data of a 2xx answer; anything else fails with the server's error document. */
function ok<D>(result: { data?: D; error?: unknown; response: Response }, status: number, what: string): D {
  check(result.response.status === status,
    `${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`);
  check(result.data !== undefined, `${what}: no body`);
  return result.data;
}

/** The query of a link the server wrote, as the parameters of the operation at its path. */
function queryOf(link: string): Record<string, string> {
  return Object.fromEntries(new URL(link).searchParams);
}

function sameUrl(fetched: string, link: string, what: string): void {
  const a = new URL(fetched);
  const b = new URL(link);
  a.searchParams.sort();
  b.searchParams.sort();
  equal(a.toString(), b.toString(), `${what}: the URL fetched is the link`);
}

const passed: string[] = [];
async function flow(name: string, body: () => Promise<void>): Promise<void> {
  await body();
  passed.push(name);
  console.log(`ok - openapi-fetch: ${name}`);
}

async function main(): Promise<void> {
  const stamp = Date.now().toString(36);
  let accountId = "";
  let utilityId = "";
  const people: string[] = [];
  const memberIds: string[] = [];

  await flow("sign in and set up", async () => {
    const session = ok(await client.POST("/api/v1/sessions/", {
      body: { data: { type: "Session", attributes: { email: process.env.ROSTER_EMAIL, password: process.env.ROSTER_PASSWORD ?? "" } } },
    }), 201, "sign in");
    const token = session.data.attributes?.token;
    check(token, "a token");
    client.use({ onRequest({ request }) { request.headers.set("Authorization", `Bearer ${token}`); return request; } });

    const account = ok(await client.POST("/api/v1/accounts/", {
      body: { data: { type: "Account", attributes: { name: `Generated Co ${stamp}` } } },
    }), 201, "create an account");
    accountId = account.data.id;
    const utility = ok(await client.POST("/api/v1/utilities/", {
      body: { data: { type: "Utility", attributes: { name: "Generated Grid", billingDay: 1 },
        relationships: { account: { data: { type: "Account", id: Number(accountId) } } } } },
    }), 201, "create a utility");
    utilityId = utility.data.id;
    for (let index = 0; index < 5; index++) {
      const user = ok(await client.POST("/api/v1/users/", {
        body: { data: { type: "User", attributes: { email: `gen-${stamp}-${index}@example.com`, firstName: "Gen",
          lastName: `Person ${index}`, password: crypto.randomUUID() } } },
      }), 201, "create a user");
      people.push(user.data.id);
    }
    for (let index = 0; index < 3; index++) {
      const membership = ok(await client.POST("/api/v1/memberships/", {
        body: { data: { type: "Membership", attributes: { isSubscriber: index % 2 === 1 }, relationships: {
          user: { data: { type: "User", id: Number(people[index]) } },
          utility: { data: { type: "Utility", id: Number(utilityId) } } } } },
      }), 201, "create a membership");
      memberIds.push(membership.data.id);
    }
  });

  await flow("list and follow links.next", async () => {
    let page = ok(await client.GET("/api/v1/memberships/", {
      params: { query: { "filter[utility]": utilityId, "page[size]": 2 } },
    }), 200, "first page");
    equal(page.meta.pagination.count, 3, "count");
    const seen = page.data.map((item) => item.id);
    let pages = 1;
    while (page.links.next) {
      const next = page.links.next;
      const result = await client.GET("/api/v1/memberships/", { params: { query: queryOf(next) } });
      sameUrl(result.response.url, next, "links.next");
      page = ok(result, 200, "next page");
      seen.push(...page.data.map((item) => item.id));
      pages++;
    }
    equal(pages, 2, "pages");
    equal(seen.sort(), [...memberIds].sort(), "every membership once");
  });

  await flow("include and resolve", async () => {
    const list = ok(await client.GET("/api/v1/memberships/", {
      params: { query: { "filter[utility]": utilityId, include: ["user", "utility"] } },
    }), 200, "include");
    equal(list.data.length, 3, "memberships");
    const included = list.included ?? [];
    for (const membership of list.data) {
      const userRef = membership.relationships?.user?.data;
      const utilityRef = membership.relationships?.utility?.data;
      check(userRef && utilityRef, "linkage");
      const user = included.find((item) => item.type === "User" && item.id === userRef.id);
      const grid = included.find((item) => item.type === "Utility" && item.id === utilityRef.id);
      check(user?.type === "User" && user.attributes?.email?.includes("@"), "the user resolved from included");
      check(grid?.type === "Utility" && grid.attributes?.name === "Generated Grid", "the utility resolved from included");
    }
  });

  await flow("sparse fields", async () => {
    const list = ok(await client.GET("/api/v1/memberships/", {
      params: { query: { "filter[utility]": utilityId, "fields[Membership]": ["role"] } },
    }), 200, "sparse fields");
    equal(list.data.length, 3, "memberships");
    for (const membership of list.data) {
      equal(Object.keys(membership.attributes ?? {}), ["role"], "attributes");
      check(!membership.relationships || Object.keys(membership.relationships).length === 0, "no relationships");
    }
  });

  await flow("create with numeric ids, retrieve, write back, delete", async () => {
    const created = await client.POST("/api/v1/memberships/", {
      body: { data: { type: "Membership", attributes: { isSubscriber: true }, relationships: {
        user: { data: { type: "User", id: Number(people[4]) } },
        utility: { data: { type: "Utility", id: Number(utilityId) } } } } },
    });
    const id = ok(created, 201, "create").data.id;
    check(/^\d+$/.test(id), "a string of digits");
    equal(created.response.headers.get("Location"), `${BASE}/api/v1/memberships/${id}/`, "Location");

    const read: Membership = ok(await client.GET("/api/v1/memberships/{id}/", { params: { path: { id } } }), 200, "retrieve").data;
    equal(read.attributes?.role, "spectator", "role");
    equal(read.attributes?.isSubscriber, true, "isSubscriber");
    // Write back everything read (timestamps, links, relationships), one attribute changed.
    const changed = { ...read, attributes: { ...read.attributes, role: "leader" as const } };
    const patched = ok(await client.PATCH("/api/v1/memberships/{id}/", {
      params: { path: { id } }, body: { data: changed },
    }), 200, "write back");
    equal(patched.data.attributes?.role, "leader", "patched role");
    const again = ok(await client.GET("/api/v1/memberships/{id}/", { params: { path: { id } } }), 200, "re-read");
    equal(again.data.attributes?.role, "leader", "stored role");
    equal(again.data.attributes?.isSubscriberDatetime, read.attributes?.isSubscriberDatetime, "untouched timestamp");

    const deleted = await client.DELETE("/api/v1/memberships/{id}/", { params: { path: { id } } });
    equal(deleted.response.status, 204, "delete");
    const gone = await client.GET("/api/v1/memberships/{id}/", { params: { path: { id } } });
    equal(gone.response.status, 404, "deleted");
    // (the document's error answers are JSON:API error documents, but for gunicorn's own 414 page)
    const refusal = gone.error;
    check(typeof refusal === "object" && refusal.errors[0]?.code === "not_found", `not_found: ${JSON.stringify(refusal)}`);
  });

  await flow("follow relationship links", async () => {
    const grid = ok(await client.GET("/api/v1/utilities/{id}/", { params: { path: { id: utilityId } } }), 200, "utility").data;
    const links = grid.relationships?.memberships?.links;
    check(links, "memberships links");
    const linkage = await client.GET("/api/v1/utilities/{id}/relationships/memberships/", {
      params: { path: { id: utilityId }, query: queryOf(links.self) },
    });
    sameUrl(linkage.response.url, links.self, "relationships/memberships");
    const identifiers = ok(linkage, 200, "linkage");
    equal(identifiers.data.map((item) => item.id).sort(), [...memberIds].sort(), "linkage");
    equal(identifiers.meta?.pagination?.count, 3, "linkage count");
    const related = await client.GET("/api/v1/utilities/{id}/memberships/", {
      params: { path: { id: utilityId }, query: queryOf(links.related) },
    });
    sameUrl(related.response.url, links.related, "related memberships");
    const relatedList = ok(related, 200, "related");
    equal(relatedList.data.length, 3, "related memberships");
    check(relatedList.data.every((item) => item.type === "Membership"), "Membership resources");

    const accountLinks = grid.relationships?.account?.links;
    check(accountLinks, "account links");
    const owner = await client.GET("/api/v1/utilities/{id}/account/", { params: { path: { id: utilityId } } });
    sameUrl(owner.response.url, accountLinks.related, "related account");
    const account = ok(owner, 200, "account").data;
    check(account && account.type === "Account" && account.id === accountId, "the utility's account");
  });

  await flow("write a to-many relationship", async () => {
    const role = ok(await client.POST("/api/v1/roles/", {
      body: { data: { type: "Role", attributes: { name: `Generated role ${stamp}` } } },
    }), 201, "create a role").data;
    const path = { id: people[0] ?? "" };
    const added = await client.POST("/api/v1/users/{id}/relationships/roles/", {
      params: { path }, body: { data: [{ type: "Role", id: role.id }] },
    });
    check(added.response.status < 300, `add a role: ${added.response.status} ${JSON.stringify(added.error)}`);
    const linkage = ok(await client.GET("/api/v1/users/{id}/relationships/roles/", { params: { path } }), 200, "roles");
    equal(linkage.data.map((item) => item.id), [role.id], "roles");
    const removed = await client.DELETE("/api/v1/users/{id}/relationships/roles/", {
      params: { path }, body: { data: [{ type: "Role", id: role.id }] },
    });
    check(removed.response.status < 300, `remove a role: ${removed.response.status} ${JSON.stringify(removed.error)}`);
    equal(ok(await client.GET("/api/v1/users/{id}/relationships/roles/", { params: { path } }), 200, "roles").data, [], "no roles");
  });

  console.log(`openapi-fetch: ${passed.length} flows passed`);
}

main().catch((error: unknown) => {
  console.error(`not ok - openapi-fetch: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
