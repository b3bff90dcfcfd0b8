import './base.css';
import './sweep.css';
import './compare.css';
import './dashboard.css';
import './try-expert.css';
