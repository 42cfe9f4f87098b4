// `wow serve` driven by the official OpenWhisk JavaScript client (npm
// `openwhisk`), as an OpenWhisk user would: create an action from a .wasm file,
// list, get, invoke (blocking, non-blocking, result only), fetch activations,
// their logs and results, update and delete.
//
// Plain Node, no framework: stops at the first failure with a message saying
// what was expected, and exits 1. Environment:
//   APIHOST    http://HOST:PORT of `wow serve`
//   AUTH       the guest credential UUID:KEY
//   ADD_WASM   path of examples/add.wasm
//   ECHO_WASM  path of examples/echo.wasm

'use strict'

const assert = require('assert/strict')
const fs = require('fs')
const openwhisk = require('openwhisk')

for (const name of ['APIHOST', 'AUTH', 'ADD_WASM', 'ECHO_WASM']) {
  if (!process.env[name]) {
    console.error(`client_test.js: ${name} is not set`)
    process.exit(2)
  }
}

const ow = openwhisk({ apihost: process.env.APIHOST, api_key: process.env.AUTH })
const addWasm = fs.readFileSync(process.env.ADD_WASM)
const echoWasm = fs.readFileSync(process.env.ECHO_WASM)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const unique = `ow${process.pid}`
const ADD = `${unique}-add`
const ECHO = `${unique}-echo`
const PKG_ADD = `${unique}-pkg/add`

let step = 'start'
let passed = 0

async function check (name, fn) {
  step = name
  const start = Date.now()
  await fn()
  passed++
  console.log(`ok ${passed} - ${name} (${Date.now() - start} ms)`)
}

// The promise must reject with an OpenWhiskError of HTTP `status`; returns the error.
async function rejects (promise, status, what) {
  let value
  try {
    value = await promise
  } catch (err) {
    assert.equal(err.statusCode, status, `${what}: expected HTTP ${status}, got ${err.statusCode}: ${err.message}`)
    return err
  }
  assert.fail(`${what}: expected HTTP ${status}, but it succeeded with ${JSON.stringify(value)}`)
}

// Polls activations.get until the record exists.
async function waitForActivation (id) {
  const deadline = Date.now() + 10000
  for (;;) {
    try {
      return await ow.activations.get(id)
    } catch (err) {
      if (err.statusCode !== 404 || Date.now() > deadline) throw err
    }
    await sleep(20)
  }
}

function annotation (doc, key) {
  const a = (doc.annotations || []).find(a => a.key === key)
  return a === undefined ? undefined : a.value
}

async function main () {
  await check('namespaces.list', async () => {
    assert.deepEqual(await ow.namespaces.list(), ['guest'])
  })

  await check('a wrong credential is refused', async () => {
    const bad = openwhisk({ apihost: process.env.APIHOST, api_key: 'nobody:nothing' })
    await rejects(bad.actions.list(), 401, 'actions.list with a wrong credential')
  })

  await check('actions.create from a .wasm Buffer (kind wasm)', async () => {
    const action = await ow.actions.create({
      name: ADD,
      action: addWasm,
      kind: 'wasm',
      params: { param2: 100 },
      annotations: { description: 'add from the openwhisk client' }
    })
    assert.equal(action.name, ADD)
    assert.equal(action.namespace, 'guest')
    assert.equal(action.version, '0.0.1')
    assert.equal(action.exec.kind, 'wasm')
    assert.equal(action.exec.binary, true, 'binary is inferred for base64 code')
    assert.deepEqual(action.parameters, [{ key: 'param2', value: 100 }])
    assert.equal(annotation(action, 'description'), 'add from the openwhisk client')
  })

  await check('actions.create of an existing action is a conflict', async () => {
    await rejects(ow.actions.create({ name: ADD, action: addWasm, kind: 'wasm' }), 409, 'creating it twice')
  })

  await check('actions.create with an unsupported kind is refused', async () => {
    const err = await rejects(ow.actions.create({ name: `${unique}-node`, action: 'function main() {}' }), 400,
      'kind nodejs:default')
    assert.match(JSON.stringify(err.error), /kind/)
  })

  await check('actions.create of echo and of an action in a package', async () => {
    await ow.actions.create({ name: ECHO, action: echoWasm, kind: 'wasm' })
    const pkg = await ow.actions.create({ name: PKG_ADD, action: addWasm, kind: 'wasm' })
    assert.equal(pkg.name, 'add')
    assert.equal(pkg.namespace, `guest/${unique}-pkg`)
  })

  await check('actions.list', async () => {
    const all = await ow.actions.list({ limit: 200 })
    const names = all.map(a => a.name)
    assert.ok(names.includes(ADD), `${ADD} not in ${JSON.stringify(names)}`)
    assert.ok(names.includes(ECHO), `${ECHO} not in ${JSON.stringify(names)}`)
    for (const a of all) assert.equal(a.exec.code, undefined, `listed action ${a.name} carries its code`)
    const page = await ow.actions.list({ limit: 1, skip: 1 })
    assert.equal(page.length, 1)
    assert.deepEqual(page[0].name, all[1].name)
    assert.deepEqual(await ow.actions.list({ count: true }), { actions: all.length })
  })

  await check('actions.get (with and without code)', async () => {
    const action = await ow.actions.get(ADD)
    assert.equal(action.exec.code, addWasm.toString('base64'))
    assert.equal(action.version, '0.0.1')
    const noCode = await ow.actions.get({ name: ADD, code: false })
    assert.equal(noCode.exec.code, undefined)
    assert.equal(noCode.exec.kind, 'wasm')
    await rejects(ow.actions.get(`${unique}-missing`), 404, 'getting a missing action')
  })

  let blockingId
  await check('actions.invoke blocking: the activation record', async () => {
    const activation = await ow.actions.invoke({ name: ADD, blocking: true, params: { param1: 1, param2: 2 } })
    assert.match(activation.activationId, /^[0-9a-f]{32}$/)
    assert.equal(activation.name, ADD)
    assert.equal(activation.namespace, 'guest')
    assert.deepEqual(activation.response.result, { result: 3 })
    assert.equal(activation.response.success, true)
    assert.equal(activation.response.statusCode, 0)
    assert.equal(annotation(activation, 'path'), `guest/${ADD}`)
    assert.equal(annotation(activation, 'kind'), 'wasm')
    assert.ok(annotation(activation, 'waitTime') >= 0)
    blockingId = activation.activationId
  })

  await check('actions.invoke blocking with result: only the result, defaults merged', async () => {
    assert.deepEqual(await ow.actions.invoke({ name: ADD, blocking: true, result: true, params: { param1: 1 } }),
      { result: 101 })
    assert.deepEqual(await ow.actions.invoke({ name: PKG_ADD, blocking: true, result: true,
      params: { param1: 2, param2: 2 } }), { result: 4 })
  })

  await check('actions.invoke blocking: an application error rejects with HTTP 502', async () => {
    const err = await rejects(ow.actions.invoke({ name: ADD, blocking: true,
      params: { param1: 'one' } }), 502, 'add with a string param1')
    assert.equal(err.error.response.statusCode, 1)
    assert.equal(err.error.response.success, false)
    assert.equal(typeof err.error.response.result.error, 'string')
    assert.match(err.message, /param1/, 'the client shows the action\'s error')
  })

  let echoId
  await check('actions.invoke non-blocking: an activation id', async () => {
    const answer = await ow.actions.invoke({ name: ECHO, params: { hello: 'client' } })
    assert.deepEqual(Object.keys(answer), ['activationId'])
    assert.match(answer.activationId, /^[0-9a-f]{32}$/)
    echoId = answer.activationId
  })

  await check('activations.get', async () => {
    const record = await waitForActivation(echoId)
    assert.equal(record.activationId, echoId)
    assert.equal(record.name, ECHO)
    assert.deepEqual(record.response.result, { hello: 'client' })
    assert.ok(record.end >= record.start)
    assert.equal(record.duration, record.end - record.start)
    const blocking = await ow.activations.get({ activationId: blockingId })
    assert.deepEqual(blocking.response.result, { result: 3 })
    await rejects(ow.activations.get('0123456789abcdef0123456789abcdef'), 404, 'a missing activation')
  })

  await check('activations.logs', async () => {
    const { logs } = await ow.activations.logs(echoId)
    assert.equal(logs.length, 2, JSON.stringify(logs))
    assert.match(logs[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\s+stdout: echo: \d+ bytes$/)
    assert.match(logs[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\s+stderr: echo: returning the parameters unchanged$/)
  })

  await check('activations.result', async () => {
    const result = await ow.activations.result(echoId)
    assert.deepEqual(result.result, { hello: 'client' })
    assert.equal(result.success, true)
  })

  await check('activations.list', async () => {
    const list = await ow.activations.list({ name: ECHO, limit: 10 })
    assert.ok(list.some(a => a.activationId === echoId), JSON.stringify(list))
    for (const a of list) assert.equal(a.logs, undefined, 'a summary carries logs')
    const docs = await ow.activations.list({ name: ECHO, limit: 10, docs: true })
    const full = docs.find(a => a.activationId === echoId)
    assert.ok(full, JSON.stringify(docs))
    assert.deepEqual(full.response.result, { hello: 'client' })
    const all = await ow.activations.list({ limit: 200 })
    assert.ok(all.some(a => a.activationId === blockingId))
    const since = await ow.activations.list({ name: ADD, since: Date.now() + 60000 })
    assert.deepEqual(since, [])
  })

  await check('actions.update: new code and parameters, version bumps', async () => {
    const updated = await ow.actions.update({ name: ADD, action: echoWasm, kind: 'wasm', params: { extra: true } })
    assert.equal(updated.version, '0.0.2')
    assert.deepEqual(await ow.actions.invoke({ name: ADD, blocking: true, result: true, params: { x: 1 } }),
      { extra: true, x: 1 })
    // Parameters only: the code stays.
    const params = await ow.actions.update({ name: ADD, params: { extra: 'again' } })
    assert.equal(params.version, '0.0.3')
    assert.deepEqual(await ow.actions.invoke({ name: ADD, blocking: true, result: true }), { extra: 'again' })
    const record = await ow.actions.invoke({ name: ADD, blocking: true })
    assert.equal(record.version, '0.0.3')
  })

  await check('actions.delete', async () => {
    for (const name of [ADD, ECHO, PKG_ADD]) {
      const deleted = await ow.actions.delete(name)
      assert.equal(deleted.name, name.split('/').pop())
      await rejects(ow.actions.get(name), 404, `getting ${name} after delete`)
      await rejects(ow.actions.invoke({ name, blocking: true }), 404, `invoking ${name} after delete`)
      await rejects(ow.actions.delete(name), 404, `deleting ${name} twice`)
    }
    // Its activations stay.
    assert.equal((await ow.activations.get(echoId)).activationId, echoId)
  })

  console.log(`all ${passed} checks passed`)
}

main().catch(err => {
  console.error(`FAILED in "${step}": ${err && err.stack ? err.stack : err}`)
  if (err && err.error) console.error(`response body: ${JSON.stringify(err.error)}`)
  process.exit(1)
})
