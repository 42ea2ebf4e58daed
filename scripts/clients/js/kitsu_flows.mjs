// Issue 12: the seed-004 flows through kitsu, a JavaScript JSON:API client library, unmodified,
// against a live Roster (scripts/clients/run_js.sh starts one and sets ROSTER_BASE,
// ROSTER_EMAIL, ROSTER_PASSWORD for a site admin).
//
// Configured: `baseURL` (the API root), the bearer token (`api.headers.Authorization`, as its
// README shows) and `pluralize: false`. kitsu's default pluralizes the resource `type` it
// writes into request bodies (`Membership` -> `Memberships`, made for an API whose types are
// plural); Roster's types are the model's class name, so with the default every write is a
// 409 conflict. Everything else is kitsu's default: its media type headers, its query
// serializer (`page[size]`, `fields[Membership]`), its (de)serializer, camelCase names.
// Writes go through `api.request()`, kitsu's documented call for a URL and a type that differ
// (`api.post(model)` derives both from one string); reads through `api.get()`.
import assert from 'node:assert/strict'
import Kitsu from 'kitsu'

const BASE = process.env.ROSTER_BASE
const api = new Kitsu({ baseURL: `${BASE}/api/v1`, pluralize: false })
const results = []

async function flow (name, body) {
  try {
    await body()
  } catch (error) {
    // the request that failed and the server's error document, not axios' whole state
    const request = error.config ? `${error.config.method?.toUpperCase()} ${error.config.url}: ` : ''
    const answer = error.response ? `${error.response.status} ${JSON.stringify(error.errors ?? error.response.data)}` : ''
    console.error(`not ok - kitsu: ${name}: ${request}${answer}`)
    console.error(error.response ? error.message : error)
    process.exit(1)
  }
  results.push(name)
  console.log(`ok - kitsu: ${name}`)
}

async function expectError (promise, status, code) {
  try {
    await promise
  } catch (error) {
    assert.equal(error.response?.status, status, `expected ${status}, got ${error.response?.status}`)
    assert.equal(error.errors?.[0]?.code, code)
    return error
  }
  assert.fail(`expected a ${status}`)
}

let account, utility, stamp
const people = []
const memberIds = []
await flow('sign in and set up', async () => {
  const session = await api.request({
    method: 'POST', url: 'sessions', type: 'Session',
    body: { email: process.env.ROSTER_EMAIL, password: process.env.ROSTER_PASSWORD }
  })
  assert.equal(session.status, 201)
  api.headers.Authorization = `Bearer ${session.data.token}`

  // The world of tests/test_client_libraries.py, made over the API: an account, a utility,
  // five users, three of them members (numeric ids in relationships, as seed 004 sends them).
  stamp = Date.now().toString(36)
  account = (await api.request({ method: 'POST', url: 'accounts', type: 'Account', body: { name: `Live Co ${stamp}` } })).data
  utility = (await api.request({
    method: 'POST', url: 'utilities', type: 'Utility',
    body: { name: 'Live Grid', billingDay: 1, account: { data: { type: 'Account', id: Number(account.id) } } }
  })).data
  for (let index = 0; index < 5; index++) {
    const created = await api.request({
      method: 'POST', url: 'users', type: 'User',
      body: { email: `live-${stamp}-${index}@example.com`, firstName: 'Live', lastName: `Person ${index}`, password: crypto.randomUUID() }
    })
    assert.equal(created.status, 201)
    people.push(created.data)
  }
  for (let index = 0; index < 3; index++) {
    const created = await api.request({
      method: 'POST', url: 'memberships', type: 'Membership',
      body: {
        isSubscriber: Boolean(index % 2),
        user: { data: { type: 'User', id: Number(people[index].id) } },
        utility: { data: { type: 'Utility', id: Number(utility.id) } }
      }
    })
    memberIds.push(created.data.id)
  }
})

await flow('list and follow links.next', async () => {
  let page = await api.get('memberships', { params: { filter: { utility: utility.id }, page: { size: 2 } } })
  assert.equal(page.meta.pagination.count, 3)
  const seen = page.data.map(item => item.id)
  let pages = 1
  while (page.links.next) {
    page = await api.request({ method: 'GET', url: page.links.next })
    seen.push(...page.data.map(item => item.id))
    pages++
  }
  assert.equal(pages, 2)
  assert.deepEqual(seen.sort(), [...memberIds].sort())
})

await flow('include and resolve', async () => {
  const { data } = await api.get('memberships', { params: { filter: { utility: utility.id }, include: 'user,utility' } })
  assert.equal(data.length, 3)
  for (const membership of data) {
    assert.equal(membership.type, 'Membership')
    assert.match(membership.user.data.email, /@/) // resolved from `included`
    assert.equal(membership.utility.data.name, 'Live Grid')
  }
})

await flow('sparse fields', async () => {
  const { data } = await api.get('memberships', { params: { fields: { Membership: 'role' } } })
  assert.ok(data.length >= 3)
  for (const membership of data) {
    assert.equal(membership.role, 'spectator')
    assert.equal(membership.isSubscriber, undefined)
    assert.equal(membership.user, undefined)
  }
})

await flow('create with numeric ids, retrieve, write back, delete', async () => {
  const created = await api.request({
    method: 'POST', url: 'memberships', type: 'Membership',
    body: {
      isSubscriber: true,
      user: { data: { type: 'User', id: Number(people[4].id) } },
      utility: { data: { type: 'Utility', id: Number(utility.id) } }
    }
  })
  assert.equal(created.status, 201)
  const id = created.data.id
  assert.match(id, /^\d+$/)
  assert.equal(created.headers.location, `${BASE}/api/v1/memberships/${id}/`)
  assert.equal(created.data.user.data.id, people[4].id)

  const { data: membership } = await api.get(`memberships/${id}`)
  assert.equal(membership.role, 'spectator')
  assert.equal(membership.isSubscriber, true)
  membership.role = 'leader'
  // Everything read goes back: timestamps, links, both relationships.
  const patched = await api.request({ method: 'PATCH', url: `memberships/${id}`, type: 'Membership', body: membership })
  assert.equal(patched.status, 200)
  assert.equal(patched.data.role, 'leader')
  assert.equal((await api.get(`memberships/${id}`)).data.role, 'leader')

  const deleted = await api.delete('memberships', id)
  assert.equal(deleted.status, 204)
  await expectError(api.get(`memberships/${id}`), 404, 'not_found')
})

await flow('a second membership of the same pair is a 409 error document', async () => {
  await expectError(api.request({
    method: 'POST', url: 'memberships', type: 'Membership',
    body: { isSubscriber: false, user: { data: { type: 'User', id: Number(people[0].id) } }, utility: { data: { type: 'Utility', id: Number(utility.id) } } }
  }), 409, 'duplicate')
})

await flow('follow relationship links', async () => {
  const { data: grid } = await api.get(`utilities/${utility.id}`)
  const links = grid.memberships.links
  assert.equal(grid.memberships.meta.count, 3)
  const linkage = await api.request({ method: 'GET', url: links.self })
  assert.equal(linkage.data.length, 3)
  assert.equal(linkage.meta.pagination.count, 3)
  assert.deepEqual(linkage.data.map(item => item.id).sort(), [...memberIds].sort())
  const related = await api.request({ method: 'GET', url: links.related })
  assert.deepEqual(new Set(related.data.map(item => item.type)), new Set(['Membership']))
  assert.equal(related.data.length, 3)
  const owner = await api.request({ method: 'GET', url: grid.account.links.related })
  assert.equal(owner.data.type, 'Account')
  assert.equal(owner.data.id, account.id)
  assert.equal(grid.account.data.id, account.id)
})

await flow('write a to-many relationship', async () => {
  const role = (await api.request({ method: 'POST', url: 'roles', type: 'Role', body: { name: `Live role ${stamp}` } })).data
  const url = `users/${people[0].id}/relationships/roles`
  await api.request({ method: 'POST', url, type: 'Role', body: [{ id: role.id }] })
  assert.deepEqual((await api.get(`users/${people[0].id}`)).data.roles.data.map(item => item.id), [role.id])
  await api.request({ method: 'PATCH', url, type: 'Role', body: [] })
  assert.deepEqual((await api.get(`users/${people[0].id}`)).data.roles.data, [])
})

console.log(`kitsu: ${results.length} flows passed`)
