// The connector page's entry (views/connector.ejs loads it). The page itself is in
// connector-page.js, which can be imported without starting it.
import { startConnector } from './connector-page.js';

startConnector();
